"""Judging conditions at moments of event time, from rule state alone.

A condition is judged only at its *moments*: a count at each matching event (the window
ends there), a silence at each activity's deadline (the activity plus ``quiet_for``), a
spike at each referral for a watched need. Between moments the answer cannot change from
"no" to "yes", so judging every moment once, in event-time order, once the clock has passed
it, finds every alert the events call for, and finds the same ones whatever order the
events arrived in. Windows include both ends, so that a zero-length window is its instant.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from schemas.models import Need
from streams.rules.activity import Activity, matches
from streams.rules.explain import count_sentence, silence_sentence, spike_sentence
from streams.rules.pack import CountCondition, Distinct, Rule, SilenceCondition, SpikeCondition
from streams.rules.state import PersonRuleState, PlaceReferral, PlaceRuleState


@dataclass(frozen=True, slots=True)
class Moment:
    """A moment to judge a rule at, and for a spike, the need it is judged for."""

    at: datetime
    need: Need | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """What a condition found at a moment: the evidence of an alert, and its sentence."""

    event_ids: tuple[str, ...]
    counts: dict[str, int]
    window_start: datetime
    window_end: datetime
    explanation: str


def person_moments(rule: Rule, state: PersonRuleState) -> list[Moment]:
    """Every moment ``rule`` is judged at for this person, in event-time order."""
    match rule.condition:
        case CountCondition(events=events):
            times = {a.occurred_at for a in state.activity if matches(events, a)}
        case SilenceCondition(broken_by=broken_by, quiet_for=quiet_for):
            times = {a.occurred_at + quiet_for for a in state.activity if matches(broken_by, a)}
        case SpikeCondition():
            raise TypeError(f"rule {rule.id} is about places")
    return [Moment(at) for at in sorted(times)]


def judge_person(rule: Rule, state: PersonRuleState, moment: Moment) -> Finding | None:
    """What ``rule`` finds for this person at ``moment``, or None if it does not hold."""
    match rule.condition:
        case CountCondition() as count:
            return _count(count, state, moment.at)
        case SilenceCondition() as silence:
            return _silence(silence, state, moment.at)
        case SpikeCondition():
            raise TypeError(f"rule {rule.id} is about places")


def place_moments(rule: Rule, state: PlaceRuleState) -> list[Moment]:
    """Every (moment, need) ``rule`` is judged at for this place, in event-time order."""
    if rule.spike is None:
        raise TypeError(f"rule {rule.id} is about persons")
    watched = rule.spike.watched
    pairs = {
        (r.occurred_at, watched.index(need))
        for r in state.referrals
        for need in r.needs
        if need in watched
    }
    return [Moment(at, watched[index]) for at, index in sorted(pairs)]


def judge_place(rule: Rule, state: PlaceRuleState, moment: Moment) -> Finding | None:
    """What ``rule`` finds for this place and need at ``moment``, or None."""
    spike, need = rule.spike, moment.need
    if spike is None or need is None:
        raise TypeError(f"rule {rule.id} is not judged for a place's need")
    end = moment.at
    recent_start = end - spike.within
    start = recent_start - spike.baseline
    if state.first_seen is None or state.first_seen > start:
        return None  # the baseline is before anything seen here: unknown, not zero
    referrals = [r for r in _between(state.referrals, start, end) if need in r.needs]
    recent = [r for r in referrals if r.occurred_at >= recent_start]
    baseline = len(referrals) - len(recent)
    if len(recent) < spike.at_least or len(recent) * spike.baseline_periods < (
        spike.factor * baseline
    ):
        return None
    return Finding(
        event_ids=tuple(r.event_id for r in recent),
        counts={"recent": len(recent), "baseline": baseline},
        window_start=start,
        window_end=end,
        explanation=spike_sentence(spike, need, len(recent), baseline, end),
    )


def _count(count: CountCondition, state: PersonRuleState, end: datetime) -> Finding | None:
    start = end - count.within
    found = [a for a in _between(state.activity, start, end) if matches(count.events, a)]
    match count.distinct:
        case Distinct.EVENTS:
            amount = len(found)
        case Distinct.AGENCIES:
            amount = len({a.agency for a in found})
        case Distinct.TEAMS:
            amount = len({a.team for a in found if a.team is not None})
    if amount < count.at_least:
        return None
    if count.unless_open_handoff and state.open_handoff_at(end):
        return None
    counts = {"events": len(found)}
    if count.distinct is not Distinct.EVENTS:
        counts[count.distinct.value] = amount
    return Finding(
        event_ids=tuple(a.event_id for a in found),
        counts=counts,
        window_start=start,
        window_end=end,
        explanation=count_sentence(count, len(found), amount, end),
    )


def _silence(
    silence: SilenceCondition, state: PersonRuleState, deadline: datetime
) -> Finding | None:
    last = deadline - silence.quiet_for
    activity = _between(state.activity, last, deadline)
    if any(a.occurred_at > last and matches(silence.broken_by, a) for a in activity):
        return None
    start = last - silence.within
    pattern = [a for a in _between(state.activity, start, last) if matches(silence.pattern, a)]
    if len(pattern) < silence.at_least:
        return None
    ending = [a for a in activity if a.occurred_at == last and matches(silence.broken_by, a)]
    return Finding(
        event_ids=tuple(dict.fromkeys(a.event_id for a in (*pattern, *ending))),
        counts={"events": len(pattern), "events_after": 0},
        window_start=start,
        window_end=deadline,
        explanation=silence_sentence(silence, len(pattern), last),
    )


T = TypeVar("T", Activity, PlaceReferral)


def _between(items: Sequence[T], start: datetime, end: datetime) -> Sequence[T]:
    """The items (ascending by event time) from ``start`` to ``end``, both included."""
    low = bisect_left(items, start, key=lambda item: item.occurred_at)
    high = bisect_right(items, end, key=lambda item: item.occurred_at)
    return items[low:high]
