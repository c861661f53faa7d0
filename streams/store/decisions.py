"""Engineers' merges and splits of persons, carried out in the store in one transaction.

The review API records a decision as pending when it puts it on the identity queue, so that
an engineer can follow it (:meth:`Decisions.outcome`). A merge or a split moves links from
one person key to another (:class:`Rekey`): the identity store's observations of those links
follow, a merged-away key is retired for good, the review that asked for the merge is
settled, and the decision is recorded with the ids of the journal events replayed to rebuild
the views. The identity agent, redelivered a decision after a crash, finds its record here
and does nothing twice; a restarted agent reads the replayed ids back, so that those events,
should they still be waiting on the identity queue, are not sent to the views a second time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from sqlalchemy import Text, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from schemas.models import IdentityDecision, IdentityDecisionKind
from streams.identity.matcher import Rekey
from streams.store.base import Base
from streams.store.engine import insert_for
from streams.store.errors import failing_as
from streams.store.identity import ObservationRow, RetiredKeyRow, ReviewRow

DecisionStatus = Literal["pending", "applied", "rejected"]
_STATUSES: tuple[DecisionStatus, ...] = ("pending", "applied", "rejected")


class DecisionRow(Base):
    """A decision carried out or refused, by its id."""

    __tablename__ = "identity_decisions"

    decision_id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str]
    person_key: Mapped[str]
    #: The key the links moved to: the person kept by a merge, the new person of a split.
    moved_to: Mapped[str | None]
    engineer: Mapped[str]
    decided_at: Mapped[datetime]
    status: Mapped[str]
    reason: Mapped[str | None]
    #: JSON list of the journal event ids replayed to rebuild the views.
    replayed: Mapped[str] = mapped_column(Text())
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """What became of a decision: pending, applied (links moved to ``moved_to``) or
    rejected (for ``reason``)."""

    status: DecisionStatus
    person_key: str
    moved_to: str | None
    reason: str | None


class Decisions:
    """Carries out merges and splits in the store, and remembers each decision."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = insert_for(engine)

    def submitted(self, decision: IdentityDecision) -> None:
        """Record ``decision`` as pending, before it goes on the identity queue."""
        with failing_as("recording an identity decision"), self._engine.begin() as connection:
            self._record(connection, decision, "pending")

    def applied(self, decision: IdentityDecision, rekey: Rekey, replayed: Sequence[UUID]) -> None:
        """Move ``rekey``'s links' observations, retire a merged-away key, settle the review of
        a merged person and record ``decision``: all or nothing, and only once."""
        with failing_as("recording an identity decision"), self._engine.begin() as connection:
            if not self._record(
                connection, decision, "applied", moved_to=rekey.new_key, replayed=replayed
            ):
                return
            for agency, local_id in rekey.links:
                connection.execute(
                    update(ObservationRow)
                    .where(
                        ObservationRow.person_key == rekey.old_key,
                        ObservationRow.agency == agency,
                        ObservationRow.local_id == local_id,
                    )
                    .values(person_key=rekey.new_key)
                )
            if decision.kind is IdentityDecisionKind.MERGE:
                connection.execute(
                    self._insert(RetiredKeyRow).on_conflict_do_nothing(),
                    {"person_key": rekey.old_key},
                )
                resolution = f"merged into {rekey.new_key} by engineer {decision.engineer}"
                self._settle(connection, rekey.old_key, "merged", resolution)

    def rejected(self, decision: IdentityDecision, reason: str) -> None:
        """Record ``decision`` as refused; a review waiting on the merge is open again."""
        with failing_as("recording an identity decision"), self._engine.begin() as connection:
            if self._record(connection, decision, "rejected", reason=reason):
                self._settle(connection, decision.person_key, "open", f"merge refused: {reason}")

    def outcome(self, decision_id: UUID) -> DecisionOutcome | None:
        """What became of ``decision_id``; None if it was never recorded."""
        statement = select(
            DecisionRow.status, DecisionRow.person_key, DecisionRow.moved_to, DecisionRow.reason
        ).where(DecisionRow.decision_id == decision_id)
        with failing_as("reading identity decisions"), self._engine.connect() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        status = next(known for known in _STATUSES if known == row.status)
        return DecisionOutcome(status, row.person_key, row.moved_to, row.reason)

    def replayed(self) -> set[UUID]:
        """The ids of every journal event replayed by an applied decision."""
        statement = select(DecisionRow.replayed).where(DecisionRow.status == "applied")
        with failing_as("reading identity decisions"), self._engine.connect() as connection:
            lists = connection.execute(statement).scalars().all()
        return {UUID(text) for ids in lists for text in json.loads(ids)}

    def _record(
        self,
        connection: Connection,
        decision: IdentityDecision,
        status: DecisionStatus,
        *,
        moved_to: str | None = None,
        reason: str | None = None,
        replayed: Sequence[UUID] = (),
    ) -> bool:
        """Record the decision, over a pending record of it; False if it was carried out or
        refused already (or, for ``pending``, recorded at all)."""
        insert = self._insert(DecisionRow)
        statement = insert.on_conflict_do_update(
            index_elements=[DecisionRow.decision_id],
            set_={
                name: insert.excluded[name]
                for name in ("status", "reason", "moved_to", "replayed", "recorded_at")
            },
            where=(DecisionRow.status == "pending") & (insert.excluded.status != "pending"),
        ).returning(DecisionRow.decision_id)
        row = {
            "decision_id": decision.decision_id,
            "kind": decision.kind.value,
            "person_key": decision.person_key,
            "moved_to": moved_to,
            "engineer": decision.engineer,
            "decided_at": decision.decided_at,
            "status": status,
            "reason": reason,
            "replayed": json.dumps([str(event_id) for event_id in replayed]),
            "recorded_at": datetime.now(UTC),
        }
        return bool(connection.execute(statement, row).all())

    @staticmethod
    def _settle(connection: Connection, person_key: str, status: str, resolution: str) -> None:
        """Settle the review of ``person_key`` that a merge was asked for (or left open)."""
        connection.execute(
            update(ReviewRow)
            .where(ReviewRow.person_key == person_key, ReviewRow.status.in_(("open", "merging")))
            .values(status=status, resolution=resolution, resolved_at=func.now())
        )
