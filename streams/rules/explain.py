"""One plain sentence per alert, built from the rule and what it counted.

A frontline worker should read why an alert was raised without knowing the rule pack: the
sentence says what happened, how many times, over what stretch of time, up to when.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from schemas.models import ContactOutcome, Need
from schemas.topics import EventKind
from streams.rules.pack import ANY_ACTIVITY, CountCondition, Distinct, EventFilter, SpikeCondition
from streams.rules.pack import SilenceCondition as Silence

_NOUNS: Final = {
    EventKind.REFERRAL: ("referral", "referrals"),
    EventKind.CONTACT: ("contact", "contacts"),
    EventKind.VOLUNTEER_ACTION: ("volunteer action", "volunteer actions"),
    EventKind.CONSENT: ("consent change", "consent changes"),
    EventKind.HANDOFF_UPDATE: ("handoff update", "handoff updates"),
}
_UNITS: Final = (
    ("day", timedelta(days=1)),
    ("hour", timedelta(hours=1)),
    ("minute", timedelta(minutes=1)),
)


def count_sentence(condition: CountCondition, events: int, distinct: int, end: datetime) -> str:
    """E.g. "2 contacts missed or not answered within 14 days up to 10 June 2024."."""
    noun = _events(condition.events, events)
    if condition.distinct is Distinct.EVENTS:
        what = f"{events} {noun}"
    else:
        what = f"{noun.capitalize()} from {distinct} different {condition.distinct.value}"
    if condition.within == timedelta(0):
        if events == 1 and condition.distinct is Distinct.EVENTS:
            what = f"A {noun}"
        sentence = f"{what} on {day(end)}"
    else:
        sentence = f"{what} within {span(condition.within)} up to {day(end)}"
    if condition.unless_open_handoff:
        sentence += ", and no open handoff: the person may need a team around them"
    return sentence + "."


def silence_sentence(condition: Silence, events: int, last: datetime) -> str:
    """E.g. "3 contacts or volunteer actions within 28 days up to 3 June 2024, then nothing
    from anyone for 10 days."."""
    pattern = _events(condition.pattern, events)
    after = (
        "nothing from anyone"
        if condition.broken_by == ANY_ACTIVITY
        else "no " + _events(condition.broken_by, 2)
    )
    return (
        f"{events} {pattern} within {span(condition.within)} up to {day(last)}, "
        f"then {after} for {span(condition.quiet_for)}."
    )


def spike_sentence(
    condition: SpikeCondition, need: Need, recent: int, baseline: int, end: datetime
) -> str:
    """E.g. "12 referrals for food in the 7 days up to 10 June 2024, against a mean of 2.5
    per 7 days over the 28 days before."."""
    mean = baseline / condition.baseline_periods
    noun = "referral" if recent == 1 else "referrals"
    return (
        f"{recent} {noun} for {_words(need)} in the {span(condition.within)} up to {day(end)}, "
        f"against a mean of {mean:g} per {span(condition.within)} "
        f"over the {span(condition.baseline)} before."
    )


def span(length: timedelta) -> str:
    """``length`` in the largest whole unit: "14 days", "12 hours", "15 minutes"."""
    for unit, size in _UNITS:
        if length >= size and length % size == timedelta(0):
            return _plural(length // size, unit)
    return _plural(int(length.total_seconds()), "second")


def day(moment: datetime) -> str:
    """``moment``'s date, as people write it: "3 June 2024"."""
    return f"{moment.day} {moment:%B %Y}"


def _plural(amount: int, unit: str) -> str:
    return f"{amount} {unit}" if amount == 1 else f"{amount} {unit}s"


def _events(events: EventFilter, amount: int) -> str:
    """The events a filter picks: "contacts missed or not answered", "volunteer actions
    raising a concern", "referrals or contacts about food"."""
    index = 0 if amount == 1 else 1
    described = " or ".join(_NOUNS[kind][index] for kind in events.ordered_kinds)
    if events.outcomes is not None:
        described += " " + " or ".join(_OUTCOMES[o] for o in events.ordered_outcomes)
    if events.needs is not None:
        described += " about " + " or ".join(_words(need) for need in events.ordered_needs)
    if events.concern_raised is not None:
        described += " raising a concern" if events.concern_raised else " raising no concern"
    return described


_OUTCOMES: Final = {
    ContactOutcome.COMPLETED: "completed",
    ContactOutcome.MISSED: "missed",
    ContactOutcome.NO_ANSWER: "not answered",
    ContactOutcome.CANCELLED: "cancelled",
}


def _words(need: Need) -> str:
    return need.value.replace("_", " ")
