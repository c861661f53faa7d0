"""Alerts for frontline teams: each recorded once, routed to its teams, acknowledged, resolved.

An alert arrives from the rules agents at least once (a replay, a redelivery); its
``alert_id`` is unique, so recording it again changes nothing. One row per routed team
(``alert_teams``) makes a team's feed an indexed query, and nothing in the store lets a team
read or act on an alert not routed to it.

**Feed positions.** Every change to an alert (raised, acknowledged, resolved) gives it the
next feed position, which the feeds use as the Server-Sent Events id: a follower that asks
for what came after the position it saw gets new alerts and alerts whose status changed.
Positions come from a one-row counter (``alert_feed``) rather than an autoincrement column,
because an alert moves up the feed when it changes, and because updating that row makes
the writers take turns: a position becomes visible only after every lower one, so a
follower never skips a change that commits late (the journal's positions allow that).

**Status.** ``open`` → ``acknowledged`` → ``resolved``, shared by the alert's teams: the
teams around a person work one alert together and see who acknowledged or resolved it.
An alert can be resolved without being acknowledged first. Acting again as before is
accepted and changes nothing; resolving again with another outcome is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Select,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from schemas.models import Alert
from streams.store.base import Base
from streams.store.engine import insert_for
from streams.store.errors import failing_as


class AlertStatus(StrEnum):
    """Where an alert is in a team's hands."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    """How a resolved alert turned out; ``false_alarm`` and ``not_needed`` are what rule
    tuning counts."""

    #: The team acted on it and it helped the person (or place).
    HELPED = "helped"
    #: Passed on to another service (a referral or a handoff), which now leads.
    REFERRED_ON = "referred_on"
    #: The concern was real but already in hand: no action was needed.
    NOT_NEEDED = "not_needed"
    #: The rule misfired: the evidence did not mean what the rule took it to mean.
    FALSE_ALARM = "false_alarm"


class Refused(StrEnum):
    """Why an acknowledgement or a resolution was not recorded."""

    #: No alert has this id.
    UNKNOWN = "unknown"
    #: The alert is not routed to the team that asked.
    NOT_ROUTED = "not_routed"
    #: The alert was resolved already, with another outcome or note.
    RESOLVED_OTHERWISE = "resolved_otherwise"


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedAlert:
    """An alert as the feeds show it: the alert raised, its feed position and its status."""

    alert: Alert
    position: int
    status: AlertStatus
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    outcome: Outcome | None = None
    note: str | None = None


class AlertRow(Base):
    """One alert, with its latest feed position and status."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status_position", "status", "position"),
        Index("ix_alerts_rule_id_subject", "rule_id", "subject"),
    )

    alert_id: Mapped[str] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger(), unique=True)
    rule_id: Mapped[str]
    subject_kind: Mapped[str]
    subject: Mapped[str]
    severity: Mapped[str]
    raised_at: Mapped[datetime]
    #: The alert as raised, as JSON.
    alert: Mapped[str] = mapped_column(Text())
    status: Mapped[str]
    acknowledged_by: Mapped[str | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None]
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None]
    note: Mapped[str | None] = mapped_column(Text())
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AlertTeamRow(Base):
    """That an alert is routed to a team, with the alert's feed position copied for the
    team's feed index."""

    __tablename__ = "alert_teams"
    __table_args__ = (Index("ix_alert_teams_team_position", "team", "position"),)

    alert_id: Mapped[str] = mapped_column(ForeignKey(AlertRow.alert_id), primary_key=True)
    team: Mapped[str] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger())


class AlertFeedRow(Base):
    """The last feed position given out; its single row is also the writers' lock."""

    __tablename__ = "alert_feed"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_position: Mapped[int] = mapped_column(BigInteger())


_FEED_ROW = 1

#: What a :class:`FeedAlert` is read from.
_STATUS_COLUMNS: tuple[Any, ...] = (
    AlertRow.alert,
    AlertRow.position,
    AlertRow.status,
    AlertRow.acknowledged_by,
    AlertRow.acknowledged_at,
    AlertRow.resolved_by,
    AlertRow.resolved_at,
    AlertRow.outcome,
    AlertRow.note,
)


class AlertStore:
    """Records alerts once, serves each team its feed, and keeps their status."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = insert_for(engine)

    def record(self, alerts: Sequence[Alert]) -> int:
        """Record ``alerts`` in one transaction, each new one open at the next feed position;
        return how many were new. An ``alert_id`` recorded already is skipped."""
        if not alerts:
            return 0
        unique = list({alert.alert_id: alert for alert in alerts}.values())
        with failing_as("recording alerts"), self._engine.begin() as connection:
            last = self._take_turn(connection)
            known = set(
                connection.execute(
                    select(AlertRow.alert_id).where(
                        AlertRow.alert_id.in_([alert.alert_id for alert in unique])
                    )
                ).scalars()
            )
            new = [alert for alert in unique if alert.alert_id not in known]
            if not new:
                return 0
            positions = range(last + 1, last + 1 + len(new))
            connection.execute(
                self._insert(AlertRow),
                [_row(alert, position) for alert, position in zip(new, positions, strict=True)],
            )
            routes = [
                {"alert_id": alert.alert_id, "team": team, "position": position}
                for alert, position in zip(new, positions, strict=True)
                for team in dict.fromkeys(alert.teams)
            ]
            if routes:  # an alert routed to nobody is kept, though no feed shows it
                connection.execute(self._insert(AlertTeamRow), routes)
            self._advance(connection, positions[-1])
        return len(new)

    def get(self, alert_id: str) -> FeedAlert | None:
        """The alert ``alert_id`` with its status, or None."""
        found = self._read(select(*_STATUS_COLUMNS).where(AlertRow.alert_id == alert_id))
        return found[0] if found else None

    def for_team(
        self,
        team: str,
        status: AlertStatus | None = None,
        since_position: int = 0,
        since_time: datetime | None = None,
        limit: int = 100,
    ) -> list[FeedAlert]:
        """Up to ``limit`` of ``team``'s alerts that changed after ``since_position``, in feed
        order, optionally only those in ``status`` or raised at or after ``since_time``.

        A follower passes the position of the last alert it saw to get what came since.
        """
        statement = (
            select(*_STATUS_COLUMNS)
            .join(AlertTeamRow, AlertTeamRow.alert_id == AlertRow.alert_id)
            .where(AlertTeamRow.team == team, AlertTeamRow.position > since_position)
        )
        if status is not None:
            statement = statement.where(AlertRow.status == status.value)
        if since_time is not None:
            statement = statement.where(AlertRow.raised_at >= since_time)
        return self._read(statement.order_by(AlertTeamRow.position).limit(limit))

    def resolved_since(self, position: int = 0, limit: int = 1000) -> list[FeedAlert]:
        """Up to ``limit`` alerts resolved after feed position ``position``, in feed order:
        for the rules agents to close them in rule state, paging on with the last position.

        Resolution is final, so a resolved alert keeps its position and is listed once.
        """
        statement = select(*_STATUS_COLUMNS).where(
            AlertRow.status == AlertStatus.RESOLVED.value, AlertRow.position > position
        )
        return self._read(statement.order_by(AlertRow.position).limit(limit))

    def acknowledge(self, alert_id: str, team: str) -> FeedAlert | Refused:
        """``team`` has seen the open alert ``alert_id`` and is on it; an alert acknowledged or
        resolved already is left as it is."""
        with failing_as("acknowledging an alert"), self._engine.begin() as connection:
            last = self._take_turn(connection)
            current = self._routed(connection, alert_id, team)
            if isinstance(current, Refused) or current.status is not AlertStatus.OPEN:
                return current
            return self._change(
                connection,
                current,
                last + 1,
                status=AlertStatus.ACKNOWLEDGED.value,
                acknowledged_by=team,
                acknowledged_at=datetime.now(UTC),
            )

    def resolve(
        self, alert_id: str, team: str, outcome: Outcome, note: str | None = None
    ) -> FeedAlert | Refused:
        """``team`` has dealt with ``alert_id``, with ``outcome``. Resolving again with the
        same outcome and note changes nothing; with others it is refused."""
        with failing_as("resolving an alert"), self._engine.begin() as connection:
            last = self._take_turn(connection)
            current = self._routed(connection, alert_id, team)
            if isinstance(current, Refused):
                return current
            if current.status is AlertStatus.RESOLVED:
                same = (current.outcome, current.note) == (outcome, note)
                return current if same else Refused.RESOLVED_OTHERWISE
            return self._change(
                connection,
                current,
                last + 1,
                status=AlertStatus.RESOLVED.value,
                resolved_by=team,
                resolved_at=datetime.now(UTC),
                outcome=outcome.value,
                note=note,
            )

    def _take_turn(self, connection: Connection) -> int:
        """Lock the feed counter for this transaction and return the last position given out.

        Being the transaction's first write, it also makes SQLite take its write lock now,
        so that what the transaction reads next cannot go stale before it writes.
        """
        connection.execute(
            self._insert(AlertFeedRow).on_conflict_do_nothing(),
            {"id": _FEED_ROW, "last_position": 0},
        )
        statement = (
            update(AlertFeedRow)
            .where(AlertFeedRow.id == _FEED_ROW)
            .values(last_position=AlertFeedRow.last_position)
            .returning(AlertFeedRow.last_position)
        )
        last: int = connection.execute(statement).scalar_one()
        return last

    @staticmethod
    def _advance(connection: Connection, position: int) -> None:
        connection.execute(
            update(AlertFeedRow).where(AlertFeedRow.id == _FEED_ROW).values(last_position=position)
        )

    def _routed(self, connection: Connection, alert_id: str, team: str) -> FeedAlert | Refused:
        """The alert ``alert_id`` if it is routed to ``team``; else why not."""
        row = (
            connection.execute(select(*_STATUS_COLUMNS).where(AlertRow.alert_id == alert_id))
            .mappings()
            .first()
        )
        if row is None:
            return Refused.UNKNOWN
        routed = connection.execute(
            select(AlertTeamRow.team).where(
                AlertTeamRow.alert_id == alert_id, AlertTeamRow.team == team
            )
        ).first()
        return _feed_alert(row) if routed is not None else Refused.NOT_ROUTED

    def _change(
        self, connection: Connection, current: FeedAlert, position: int, **values: Any
    ) -> FeedAlert:
        """Apply ``values`` to ``current``, moving it to feed ``position``."""
        alert_id = current.alert.alert_id
        connection.execute(
            update(AlertRow)
            .where(AlertRow.alert_id == alert_id)
            .values(position=position, **values)
        )
        connection.execute(
            update(AlertTeamRow).where(AlertTeamRow.alert_id == alert_id).values(position=position)
        )
        self._advance(connection, position)
        row = connection.execute(select(*_STATUS_COLUMNS).where(AlertRow.alert_id == alert_id))
        return _feed_alert(row.mappings().one())

    def _read(self, statement: Select[Any]) -> list[FeedAlert]:
        with failing_as("reading alerts"), self._engine.connect() as connection:
            return [_feed_alert(row) for row in connection.execute(statement).mappings()]


def _row(alert: Alert, position: int) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "position": position,
        "rule_id": alert.rule_id,
        "subject_kind": alert.subject_kind.value,
        "subject": alert.subject,
        "severity": alert.severity.value,
        "raised_at": alert.raised_at,
        "alert": alert.model_dump_json(),
        "status": AlertStatus.OPEN.value,
    }


def _feed_alert(row: Any) -> FeedAlert:
    return FeedAlert(
        alert=Alert.model_validate_json(row["alert"]),
        position=row["position"],
        status=AlertStatus(row["status"]),
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        resolved_by=row["resolved_by"],
        resolved_at=row["resolved_at"],
        outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
        note=row["note"],
    )
