"""What rules see of an event: one small record per event, and the filters that pick them.

Rule state keeps these records rather than the events, so that it holds no free text and
no more than the conditions look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from schemas.models import (
    AgencyEvent,
    ConsentChange,
    Contact,
    ContactOutcome,
    HandoffUpdate,
    Need,
    Referral,
    VolunteerAction,
)
from schemas.topics import EventKind
from streams.rules.pack import EventFilter
from streams.views.common import EventRank

#: The kinds that carry needs: a referral's, and a contact's observed ones.
_WITH_NEEDS: Final = frozenset({EventKind.REFERRAL, EventKind.CONTACT})


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    """One event about a person, reduced to what conditions count."""

    occurred_at: datetime
    event_id: str
    kind: EventKind
    agency: str
    #: The contact's team, or the referring team.
    team: str | None = None
    outcome: ContactOutcome | None = None
    #: A referral's needs, or a contact's observed needs.
    needs: tuple[Need, ...] = ()
    #: Whether a volunteer raised a concern (volunteer actions only).
    concern_raised: bool | None = None

    @property
    def rank(self) -> EventRank:
        return (self.occurred_at, self.event_id)


def activity_of(event: AgencyEvent) -> Activity:
    """``event`` as rules see it; raises TypeError for an erasure, which deletes state."""
    at, event_id = event.occurred_at, str(event.event_id)
    match event:
        case Referral():
            return Activity(
                occurred_at=at,
                event_id=event_id,
                kind=EventKind.REFERRAL,
                agency=event.agency,
                team=event.from_team,
                needs=tuple(event.needs),
            )
        case Contact():
            return Activity(
                occurred_at=at,
                event_id=event_id,
                kind=EventKind.CONTACT,
                agency=event.agency,
                team=event.team,
                outcome=event.outcome,
                needs=tuple(event.needs_observed or ()),
            )
        case VolunteerAction():
            return Activity(
                occurred_at=at,
                event_id=event_id,
                kind=EventKind.VOLUNTEER_ACTION,
                agency=event.agency,
                concern_raised=event.concern_raised,
            )
        case ConsentChange():
            return Activity(
                occurred_at=at, event_id=event_id, kind=EventKind.CONSENT, agency=event.agency
            )
        case HandoffUpdate():
            return Activity(
                occurred_at=at,
                event_id=event_id,
                kind=EventKind.HANDOFF_UPDATE,
                agency=event.agency,
            )
        case _:
            raise TypeError(f"rules do not count a {type(event).__name__}")


def matches(events: EventFilter, activity: Activity) -> bool:
    """Whether ``activity`` is one of ``events``: of one of its kinds, and passing each
    narrowing that applies to its kind (outcomes to contacts, needs to referrals and
    contacts, concerns to volunteer actions)."""
    if activity.kind not in events.kinds:
        return False
    outcome_fits = (
        events.outcomes is None
        or activity.kind is not EventKind.CONTACT
        or activity.outcome in events.outcomes
    )
    needs_fit = (
        events.needs is None
        or activity.kind not in _WITH_NEEDS
        or not events.needs.isdisjoint(activity.needs)
    )
    concern_fits = (
        events.concern_raised is None
        or activity.kind is not EventKind.VOLUNTEER_ACTION
        or activity.concern_raised is events.concern_raised
    )
    return outcome_fits and needs_fit and concern_fits
