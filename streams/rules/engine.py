"""The rule engine: fold an event or a clock advance into a subject's rule state, purely, and
say which alerts to raise.

**Event time.** A moment (see :mod:`streams.rules.conditions`) is judged once the clock's
watermark has passed it, in event-time order, and never on wall time: the same events and
watermarks give the same alerts, so a replay raises nothing new. An event that arrives after
the watermark passed its time (later than the allowed lateness) is judged at once, at the
moments it can change, against what the state still holds.

**Order.** Because moments wait for the watermark, events arriving in any order within the
allowed lateness give the same alerts, with the same ids. Limits, where arrival order can
still show:

- a late event (beyond the allowed lateness) cannot take back an alert already raised (a
  contact inside a silence that was already reported), and an alert it brings about is
  raised when it arrives, after alerts of later moments, so one-open-alert and cooldown may
  then let a different one through;
- closing an alert (:func:`close_alert`) is a person's decision made in wall time: which
  later alerts it lets through depends on when, in event time, the close is folded;
- an event older than the state's horizon (the longest window before ``evaluated_until``)
  is ignored, as its moments are past and their windows forgotten;
- the routed teams come from the person's view when the alert is raised; ids never depend
  on them.

**One open alert, cooldown.** A rule raises for a subject only when none of its alerts is
open there, no alert of the same id was raised before, and none was raised within its
cooldown of the moment.

An :class:`~schemas.models.ErasureRequest` deletes the person's rule state, so it is not
folded here; place states name no person and stay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, Protocol, TypeVar

from schemas.models import (
    Alert,
    AlertSubjectKind,
    ErasureRequest,
    Handoff,
    HandoffState,
    HandoffUpdate,
    PersonEvent,
    Referral,
)
from streams.rules.activity import activity_of, matches
from streams.rules.alerts import alert_id, make_alert
from streams.rules.conditions import (
    Finding,
    Moment,
    judge_person,
    judge_place,
    person_moments,
    place_moments,
)
from streams.rules.pack import Rule, RulePack
from streams.rules.routing import person_teams, place_teams
from streams.rules.state import (
    HandoffChange,
    PersonRuleState,
    PlaceReferral,
    PlaceRuleState,
    PlaceSeen,
    SubjectState,
)
from streams.views import ErasureNotFoldedError, PersonView

S = TypeVar("S", bound=SubjectState)
S_contra = TypeVar("S_contra", bound=SubjectState, contravariant=True)
#: No place has a coordinator: alerts go to the teams around the person, or nowhere.
NO_COORDINATORS: Final[Mapping[str, str]] = MappingProxyType({})

#: The state after an event or clock advance, and the alerts to raise, in event-time order.
Evaluation = tuple[S, list[Alert]]


def on_person_event(
    state: PersonRuleState | None,
    event: PersonEvent | Handoff,
    pack: RulePack,
    watermark: datetime,
    *,
    view: PersonView | None = None,
    coordinators: Mapping[str, str] = NO_COORDINATORS,
) -> Evaluation[PersonRuleState]:
    """Fold a person's event (or routing's Handoff message) and judge up to ``watermark``.

    ``view`` is the person's view, for routing. Raises ErasureNotFoldedError for an erasure
    (delete the state instead) and ValueError for another person's event.
    """
    key = event.person_key
    if state is None:
        state = PersonRuleState(person_key=key)
    elif state.person_key != key:
        raise ValueError("an event was folded into another person's rule state")
    cutoff = state.cutoff(pack.horizon(pack.person_rules))
    folded, added_at = _fold_person(state, event, pack, cutoff)
    return _judged(
        folded, added_at, watermark, pack.person_rules, _PersonJudge(pack, view, coordinators)
    )


def advance_person(
    state: PersonRuleState,
    pack: RulePack,
    watermark: datetime,
    *,
    view: PersonView | None = None,
    coordinators: Mapping[str, str] = NO_COORDINATORS,
) -> Evaluation[PersonRuleState]:
    """Judge a person's moments up to ``watermark``: how absences are noticed."""
    return _judged(
        state, None, watermark, pack.person_rules, _PersonJudge(pack, view, coordinators)
    )


def on_place_event(
    state: PlaceRuleState | None,
    event: PersonEvent,
    pack: RulePack,
    watermark: datetime,
    *,
    coordinators: Mapping[str, str] = NO_COORDINATORS,
) -> Evaluation[PlaceRuleState]:
    """Fold an event that names a place into that place's state and judge up to ``watermark``.

    Raises ValueError for an event that names no place, or another place.
    """
    if event.event.place is None:
        raise ValueError("the event names no place")
    place_id = event.event.place.place_id
    if state is None:
        state = PlaceRuleState(place_id=place_id)
    elif state.place_id != place_id:
        raise ValueError("an event was folded into another place's rule state")
    at = event.event.occurred_at
    cutoff = state.cutoff(pack.horizon(pack.place_rules))
    added_at = None
    if cutoff is None or at >= cutoff:
        folded = state.seen_at(at)
        if isinstance(event.event, Referral):
            referral = PlaceReferral(
                occurred_at=at, event_id=str(event.event.event_id), needs=tuple(event.event.needs)
            )
            with_referral = folded.adding(referral)
            added_at = None if with_referral is folded else at
            folded = with_referral
        state = folded
    return _judged(state, added_at, watermark, pack.place_rules, _PlaceJudge(coordinators))


def advance_place(
    state: PlaceRuleState,
    pack: RulePack,
    watermark: datetime,
    *,
    coordinators: Mapping[str, str] = NO_COORDINATORS,
) -> Evaluation[PlaceRuleState]:
    """Judge a place's moments up to ``watermark``."""
    return _judged(state, None, watermark, pack.place_rules, _PlaceJudge(coordinators))


def next_due(state: PersonRuleState | PlaceRuleState, pack: RulePack) -> datetime | None:
    """The earliest moment still to judge: when the clock passes it, advance this state.

    Lets an agent keep a timer per subject rather than advancing every state on every tick.
    """
    if isinstance(state, PersonRuleState):
        moments = [m for rule in pack.person_rules for m in person_moments(rule, state)]
    else:
        moments = [m for rule in pack.place_rules for m in place_moments(rule, state)]
    done = state.evaluated_until
    return min((m.at for m in moments if done is None or m.at > done), default=None)


def close_alert(state: S, rule_id: str, alert_id: str) -> S:
    """``state`` with the alert ``alert_id`` of ``rule_id`` no longer open (resolved by a
    team), so that the rule may raise again after its cooldown."""
    record = state.record(rule_id)
    closed = record.closing(alert_id)
    return state if closed is record else state.with_record(rule_id, closed)


class _Judge(Protocol[S_contra]):
    """What judging needs to know of a kind of subject."""

    def moments(self, rule: Rule, state: S_contra) -> list[Moment]: ...

    def judge(self, rule: Rule, state: S_contra, moment: Moment) -> Finding | None: ...

    def alert(self, rule: Rule, state: S_contra, finding: Finding, at: datetime) -> Alert: ...

    def subject(self, state: S_contra) -> str: ...


def _judged(
    state: S,
    added_at: datetime | None,
    watermark: datetime,
    rules: Sequence[Rule],
    judge: _Judge[S],
) -> Evaluation[S]:
    """Judge the moments a late addition at ``added_at`` can change, then every moment up to
    ``watermark`` not judged yet; then forget what no later moment looks back to."""
    done = state.evaluated_until
    alerts: list[tuple[datetime, int, Alert]] = []
    if added_at is not None and done is not None and added_at <= done:
        state = _judge_moments(state, rules, judge, lambda at: added_at <= at <= done, alerts)
    if done is None or watermark > done:
        state = _judge_moments(
            state, rules, judge, lambda at: (done is None or at > done) and at <= watermark, alerts
        )
        state = state.model_copy(update={"evaluated_until": watermark})
        state = state.pruned(
            watermark - max((rule.lookback for rule in rules), default=timedelta(0))
        )
    alerts.sort(key=lambda raised: raised[:2])
    return state, [alert for _, _, alert in alerts]


def _judge_moments(
    state: S,
    rules: Sequence[Rule],
    judge: _Judge[S],
    due: Callable[[datetime], bool],
    alerts: list[tuple[datetime, int, Alert]],
) -> S:
    """Judge each rule at its ``due`` moments in event-time order; add what it raises to
    ``alerts`` (with the moment and the rule's place, for ordering)."""
    for index, rule in enumerate(rules):
        record = start = state.record(rule.id)
        for moment in judge.moments(rule, state):
            if record.open_alert is not None:
                break
            if not due(moment.at):
                continue
            finding = judge.judge(rule, state, moment)
            if finding is None:
                continue
            ident = alert_id(rule.id, judge.subject(state), finding.event_ids)
            if record.admits(ident, moment.at, rule.cooldown):
                record = record.raising(ident, moment.at)
                alerts.append((moment.at, index, judge.alert(rule, state, finding, moment.at)))
        if record is not start:
            state = state.with_record(rule.id, record)
    return state


def _fold_person(
    state: PersonRuleState, event: PersonEvent | Handoff, pack: RulePack, cutoff: datetime | None
) -> tuple[PersonRuleState, datetime | None]:
    """``state`` with what the rules need of ``event``, and its time if that was news."""
    if isinstance(event, Handoff):
        at, event_id = event.occurred_at, str(event.event_id)
        if not pack.tracks_handoffs or (cutoff is not None and at < cutoff):
            return state, None
        change = HandoffChange(
            handoff_id=event.handoff_id, state=event.state, occurred_at=at, event_id=event_id
        )
        folded = state.adding_handoff(change)
        return folded, None if folded is state else at
    agency_event = event.event
    if isinstance(agency_event, ErasureRequest):
        raise ErasureNotFoldedError("an ErasureRequest deletes the person's rule state")
    at, event_id = agency_event.occurred_at, str(agency_event.event_id)
    if cutoff is not None and at < cutoff:
        return state, None
    folded = state
    if agency_event.place is not None:
        place = PlaceSeen(place_id=agency_event.place.place_id, occurred_at=at, event_id=event_id)
        folded = folded.seen_in(place)
    added_at = None
    activity = activity_of(agency_event)
    if any(matches(events, activity) for events in pack.person_filters):
        with_activity = folded.adding(activity)
        added_at = None if with_activity is folded else at
        folded = with_activity
    if isinstance(agency_event, HandoffUpdate) and pack.tracks_handoffs:
        change = HandoffChange(
            handoff_id=agency_event.handoff_id,
            state=HandoffState(agency_event.status.value),
            occurred_at=at,
            event_id=event_id,
        )
        with_change = folded.adding_handoff(change)
        added_at = added_at if with_change is folded else at
        folded = with_change
    return folded, added_at


class _PersonJudge:
    """Moments, findings and alerts for a person's rules."""

    def __init__(
        self, pack: RulePack, view: PersonView | None, coordinators: Mapping[str, str]
    ) -> None:
        self.pack = pack
        self.view = view
        self.coordinators = coordinators

    def moments(self, rule: Rule, state: PersonRuleState) -> list[Moment]:
        return person_moments(rule, state)

    def judge(self, rule: Rule, state: PersonRuleState, moment: Moment) -> Finding | None:
        return judge_person(rule, state, moment)

    def alert(self, rule: Rule, state: PersonRuleState, finding: Finding, at: datetime) -> Alert:
        place_id = None if state.place is None else state.place.place_id
        teams = person_teams(
            rule.routing,
            self.view,
            place_id,
            self.coordinators,
            at=at,
            current=self.pack.current_relationship,
        )
        return make_alert(
            rule, AlertSubjectKind.PERSON, state.person_key, finding, teams=teams, raised_at=at
        )

    def subject(self, state: PersonRuleState) -> str:
        return state.person_key


class _PlaceJudge:
    """Moments, findings and alerts for a place's rules."""

    def __init__(self, coordinators: Mapping[str, str]) -> None:
        self.coordinators = coordinators

    def moments(self, rule: Rule, state: PlaceRuleState) -> list[Moment]:
        return place_moments(rule, state)

    def judge(self, rule: Rule, state: PlaceRuleState, moment: Moment) -> Finding | None:
        return judge_place(rule, state, moment)

    def alert(self, rule: Rule, state: PlaceRuleState, finding: Finding, at: datetime) -> Alert:
        teams = place_teams(state.place_id, self.coordinators)
        return make_alert(
            rule, AlertSubjectKind.PLACE, state.place_id, finding, teams=teams, raised_at=at
        )

    def subject(self, state: PlaceRuleState) -> str:
        return state.place_id
