"""Rule state: per person and per place, just what the rules need, bounded and serialisable.

A state holds the activity of the last stretch of event time that any rule looks back over
(the pack's horizon before ``evaluated_until``), what each rule last raised, and how far
event time has been judged. It is a pydantic model of tuples, mappings and frozen
dataclasses, so that a Faust table or the SQL store keeps it as JSON.

**Order.** Like the views, collections are windows of the greatest items by event time
(:func:`streams.views.common.keep_latest_by`), so the same events folded in any order give
the same collections; an event already kept changes nothing. Each collection also has a
safety bound on its length (far above a real life, against a faulty feed): beyond it the
oldest items go first.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Self

from schemas.models import HandoffState, Need
from streams.rules.activity import Activity
from streams.views.common import EventRank, ViewModel, keep_latest_by
from streams.views.entries import OPEN_STATES, STATE_ORDER

#: Activity records kept per person at most.
MAX_ACTIVITY: Final = 512
#: Handoff state changes kept per person at most.
MAX_HANDOFF_CHANGES: Final = 64
#: Referrals kept per place at most.
MAX_REFERRALS: Final = 2048
#: Alerts remembered per rule and subject, so that none is raised twice.
RAISED_KEPT: Final = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class Raised:
    """An alert a rule raised, at the event time it was raised at."""

    at: datetime
    alert_id: str


def _raised_rank(raised: Raised) -> EventRank:
    return (raised.at, raised.alert_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleRecord:
    """What one rule raised for one subject: the open alert, and the latest ones."""

    open_alert: str | None = None
    raised: tuple[Raised, ...] = ()

    def admits(self, alert_id: str, at: datetime, cooldown: timedelta) -> bool:
        """Whether an alert ``alert_id`` at ``at`` may be raised: none open, no repeat, and no
        other raised within ``cooldown`` of it (before or after: a late event can be judged
        at a moment before the latest alert)."""
        if self.open_alert is not None:
            return False
        return all(
            kept.alert_id != alert_id and abs(kept.at - at) >= cooldown for kept in self.raised
        )

    def raising(self, alert_id: str, at: datetime) -> RuleRecord:
        kept = keep_latest_by(
            self.raised, Raised(at=at, alert_id=alert_id), RAISED_KEPT, _raised_rank
        )
        return RuleRecord(open_alert=alert_id, raised=kept)

    def closing(self, alert_id: str) -> RuleRecord:
        return self if self.open_alert != alert_id else replace(self, open_alert=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffChange:
    """A handoff's state from some moment on: to judge whether one was open at a moment."""

    handoff_id: str
    state: HandoffState
    occurred_at: datetime
    event_id: str

    @property
    def rank(self) -> EventRank:
        return (self.occurred_at, self.event_id)

    @property
    def order(self) -> tuple[datetime, int, str]:
        """At the same instant, a later state in a handoff's life wins (as in the view)."""
        return (self.occurred_at, STATE_ORDER[self.state], self.event_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceSeen:
    """The place the person's latest event named: for routing to its coordinator."""

    place_id: str
    occurred_at: datetime
    event_id: str

    @property
    def rank(self) -> EventRank:
        return (self.occurred_at, self.event_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceReferral:
    """One referral in a place: when, and for which needs."""

    occurred_at: datetime
    event_id: str
    needs: tuple[Need, ...]

    @property
    def rank(self) -> EventRank:
        return (self.occurred_at, self.event_id)


class SubjectState(ViewModel):
    """What every subject's state has: how far it has been judged, and what rules raised."""

    #: Event time up to which every moment has been judged (the clock's watermark).
    evaluated_until: datetime | None = None
    #: rule id → what it raised for this subject.
    rules: Mapping[str, RuleRecord] = {}

    def record(self, rule_id: str) -> RuleRecord:
        return self.rules.get(rule_id, _NO_RECORD)

    def with_record(self, rule_id: str, record: RuleRecord) -> Self:
        return self.model_copy(update={"rules": {**self.rules, rule_id: record}})

    @abstractmethod
    def pruned(self, cutoff: datetime) -> Self:
        """Without what no moment after ``evaluated_until`` looks back to: before ``cutoff``."""

    def cutoff(self, horizon: timedelta) -> datetime | None:
        """Activity before this is no longer needed: judged moments never look back past it."""
        return None if self.evaluated_until is None else self.evaluated_until - horizon


_NO_RECORD: Final = RuleRecord()


class PersonRuleState(SubjectState):
    """One person's rule state, keyed by their pseudonymous key."""

    person_key: str
    #: What rules count, ascending by event time.
    activity: tuple[Activity, ...] = ()
    #: Handoff state changes, ascending by event time (only if a rule asks about handoffs).
    handoffs: tuple[HandoffChange, ...] = ()
    place: PlaceSeen | None = None

    def adding(self, activity: Activity) -> PersonRuleState:
        kept = keep_latest_by(self.activity, activity, MAX_ACTIVITY, _activity_rank)
        return self if kept is self.activity else self.model_copy(update={"activity": kept})

    def adding_handoff(self, change: HandoffChange) -> PersonRuleState:
        kept = keep_latest_by(self.handoffs, change, MAX_HANDOFF_CHANGES, _change_rank)
        return self if kept is self.handoffs else self.model_copy(update={"handoffs": kept})

    def seen_in(self, place: PlaceSeen) -> PersonRuleState:
        if self.place is not None and self.place.rank >= place.rank:
            return self
        return self.model_copy(update={"place": place})

    def open_handoff_at(self, at: datetime) -> bool:
        """Whether any handoff's latest state at ``at`` was sent, accepted or contacted."""
        latest: dict[str, HandoffChange] = {}
        for change in self.handoffs:
            if change.occurred_at > at:
                break
            old = latest.get(change.handoff_id)
            if old is None or change.order > old.order:
                latest[change.handoff_id] = change
        return any(change.state in OPEN_STATES for change in latest.values())

    def pruned(self, cutoff: datetime) -> PersonRuleState:
        """Without activity before ``cutoff``; a handoff open at ``cutoff`` keeps its state."""
        before = {
            change.handoff_id: change
            for change in sorted(self.handoffs, key=lambda change: change.order)
            if change.occurred_at < cutoff
        }
        carried = {change for change in before.values() if change.state in OPEN_STATES}
        handoffs = tuple(c for c in self.handoffs if c.occurred_at >= cutoff or c in carried)
        activity = tuple(a for a in self.activity if a.occurred_at >= cutoff)
        return self.model_copy(update={"activity": activity, "handoffs": handoffs})


class PlaceRuleState(SubjectState):
    """One place's rule state, keyed by its place id. It names no person."""

    place_id: str
    #: The earliest event time seen here: a baseline before it is unknown, not zero.
    first_seen: datetime | None = None
    #: Referrals, ascending by event time.
    referrals: tuple[PlaceReferral, ...] = ()

    def adding(self, referral: PlaceReferral) -> PlaceRuleState:
        kept = keep_latest_by(self.referrals, referral, MAX_REFERRALS, _referral_rank)
        return self if kept is self.referrals else self.model_copy(update={"referrals": kept})

    def seen_at(self, at: datetime) -> PlaceRuleState:
        if self.first_seen is not None and self.first_seen <= at:
            return self
        return self.model_copy(update={"first_seen": at})

    def pruned(self, cutoff: datetime) -> PlaceRuleState:
        """Without referrals before ``cutoff``."""
        referrals = tuple(r for r in self.referrals if r.occurred_at >= cutoff)
        return self.model_copy(update={"referrals": referrals})


def _activity_rank(activity: Activity) -> EventRank:
    return activity.rank


def _change_rank(change: HandoffChange) -> EventRank:
    return change.rank


def _referral_rank(referral: PlaceReferral) -> EventRank:
    return referral.rank
