"""A place's view: need beside community capacity, week by week.

Counts are kept per ISO week, keyed by the Monday (in UTC) of each event's time: referrals
per need, contacts and volunteer actions. Readers sum whole weeks over any window
(:meth:`PlaceView.referrals_in`), so "referrals this week against the four weeks before" is
two calls. Capacity is the volunteers seen lately; need is the persons a need was raised or
observed for here lately.

**Bounded.** Only the ``weeks`` weeks up to the latest event's week are kept (26 by
default): when the latest week moves on, older weeks, volunteers and persons last seen
before it are dropped, and an event older than that horizon is ignored. Keep ``weeks`` the
same for a place's whole life: a view folded with two values matches neither.

**Order.** As for the person view, the result depends on the set of events, not on their
order: each part is a sum, a maximum or a window of the latest ids, restricted to the weeks
kept, and the horizon only moves forward. A redelivered event older than every id in the
window of :data:`RECENT_EVENTS` counts twice; an event from the far future (a wrong clock)
moves the horizon and drops the past, which is why ingest should refuse such times.

**"Open" needs** here means raised or observed within a window (28 days by default): a need
closes when a handoff closes, which only the person's view knows, and that lives on another
partition.

**Personal part.** ``persons_with_needs`` names persons (by pseudonymous key);
:meth:`PlaceView.erase` removes one. The weekly counts are aggregates and stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from schemas.models import (
    AgencyEvent,
    Contact,
    ErasureRequest,
    Need,
    Referral,
    VolunteerAction,
)
from streams.views.common import ErasureNotFoldedError, EventRank, ViewModel, keep_latest, seen

#: Weeks kept by default: half a year, enough for trends and for the alerts' windows.
DEFAULT_WEEKS: Final = 26
#: How recently a volunteer must have been seen to count as active, and a need observed to
#: count as open.
ACTIVE_WITHIN: Final = timedelta(days=28)
#: Event ids kept to recognise a redelivered event; a place sees many more than a person.
RECENT_EVENTS: Final = 256


def week_of(moment: datetime) -> date:
    """The Monday, in UTC, of the ISO week that ``moment`` falls in."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekCounts:
    """What happened in a place in one week; a referral counts once for each of its needs."""

    referrals: Mapping[Need, int] = field(default_factory=dict)
    contacts: int = 0
    volunteer_actions: int = 0


_NO_COUNTS: Final = WeekCounts()


class PlaceView(ViewModel):
    """One place's view, keyed by its ``place_id``."""

    place_id: str
    last_event_at: datetime | None = None
    #: Monday → the week's counts.
    weeks: Mapping[date, WeekCounts] = {}
    #: volunteer id → when last seen acting here.
    volunteers: Mapping[str, datetime] = {}
    #: person key → need → when last raised or observed here. The personal part.
    persons_with_needs: Mapping[str, Mapping[Need, datetime]] = {}
    #: (occurred_at, event_id) of the latest events folded, ascending.
    recent_events: tuple[EventRank, ...] = ()

    def referrals_in(self, need: Need, start: date, end: date) -> int:
        """Referrals for ``need`` in the weeks starting on or after ``start`` and before ``end``."""
        return sum(counts.referrals.get(need, 0) for counts in self._weeks_in(start, end))

    def referrals_by_need(self, start: date, end: date) -> dict[Need, int]:
        """Referrals for every need in the weeks starting in [``start``, ``end``)."""
        totals: dict[Need, int] = {}
        for counts in self._weeks_in(start, end):
            for need, count in counts.referrals.items():
                totals[need] = totals.get(need, 0) + count
        return totals

    def contacts_in(self, start: date, end: date) -> int:
        """Contacts in the weeks starting in [``start``, ``end``)."""
        return sum(counts.contacts for counts in self._weeks_in(start, end))

    def volunteer_actions_in(self, start: date, end: date) -> int:
        """Volunteer actions in the weeks starting in [``start``, ``end``)."""
        return sum(counts.volunteer_actions for counts in self._weeks_in(start, end))

    def active_volunteers(self, at: datetime, within: timedelta = ACTIVE_WITHIN) -> set[str]:
        """Volunteers last seen in [``at`` - ``within``, ``at``]: the place's capacity."""
        return {name for name, last in self.volunteers.items() if at - within <= last <= at}

    def persons_with_open_needs(self, at: datetime, within: timedelta = ACTIVE_WITHIN) -> set[str]:
        """Persons with a need raised or observed here in [``at`` - ``within``, ``at``]."""
        return {
            person
            for person, needs in self.persons_with_needs.items()
            if any(at - within <= moment <= at for moment in needs.values())
        }

    def erase(self, person_key: str) -> PlaceView:
        """This view without ``person_key`` (the same view if it never named them)."""
        if person_key not in self.persons_with_needs:
            return self
        persons = dict(self.persons_with_needs)
        del persons[person_key]
        return self.model_copy(update={"persons_with_needs": persons})

    def _weeks_in(self, start: date, end: date) -> Iterable[WeekCounts]:
        return (counts for monday, counts in self.weeks.items() if start <= monday < end)


def apply_place(
    view: PlaceView | None,
    place_id: str,
    person_key: str,
    event: AgencyEvent,
    *,
    weeks: int = DEFAULT_WEEKS,
) -> PlaceView:
    """``view`` (None for a place not seen yet) with ``person_key``'s ``event`` folded in.

    Raises :class:`~streams.views.common.ErasureNotFoldedError` for an ErasureRequest, and
    ValueError when ``view`` is another place's or ``weeks`` is not positive.
    """
    if isinstance(event, ErasureRequest):
        raise ErasureNotFoldedError("an ErasureRequest is applied with PlaceView.erase")
    if weeks < 1:
        raise ValueError("a place view keeps at least one week")
    view = _own(view, place_id)
    at = event.occurred_at
    rank = (at, str(event.event_id))
    latest = at if view.last_event_at is None else max(view.last_event_at, at)
    horizon = week_of(latest) - timedelta(weeks=weeks - 1)
    week = week_of(at)
    if week < horizon or seen(view.recent_events, rank):
        return view
    if view.last_event_at is not None and week_of(view.last_event_at) < week_of(latest):
        view = _pruned(view, horizon)
    updates: dict[str, object] = {
        "last_event_at": latest,
        "recent_events": keep_latest(view.recent_events, rank, RECENT_EVENTS),
    }
    before = view.weeks.get(week, _NO_COUNTS)
    counts = _counted(view, person_key, event, before, updates)
    if counts is not before:
        updates["weeks"] = {**view.weeks, week: counts}
    return view.model_copy(update=updates)


def renote_place(
    view: PlaceView | None,
    place_id: str,
    person_key: str,
    event: AgencyEvent,
    *,
    weeks: int = DEFAULT_WEEKS,
) -> PlaceView:
    """``view`` with the needs ``event`` raised noted for ``person_key``, and nothing counted.

    For an event counted here already under another key, replayed because an engineer's
    merge or split moved it to ``person_key``: the counts are aggregates and stand, only the
    personal part follows the person. A need older than the weeks kept is not noted, as
    :func:`apply_place` would not have noted it.
    """
    view = _own(view, place_id)
    match event:
        case Referral():
            needs: list[Need] | None = event.needs
        case Contact():
            needs = event.needs_observed
        case _:
            needs = None
    at = event.occurred_at
    latest = at if view.last_event_at is None else max(view.last_event_at, at)
    if not needs or week_of(at) < week_of(latest) - timedelta(weeks=weeks - 1):
        return view
    return view.model_copy(update={"persons_with_needs": _noted(view, person_key, needs, at)})


def _own(view: PlaceView | None, place_id: str) -> PlaceView:
    """``view``, or a new view of ``place_id``; ValueError if ``view`` is another place's."""
    if view is None:
        return PlaceView(place_id=place_id)
    if view.place_id != place_id:
        raise ValueError("an event was folded into another place's view")
    return view


def _counted(
    view: PlaceView,
    person_key: str,
    event: AgencyEvent,
    counts: WeekCounts,
    updates: dict[str, object],
) -> WeekCounts:
    """``counts`` with ``event`` counted; the persons and volunteers it names go in ``updates``."""
    at = event.occurred_at
    match event:
        case Referral():
            referrals = dict(counts.referrals)
            for need in dict.fromkeys(event.needs):
                referrals[need] = referrals.get(need, 0) + 1
            updates["persons_with_needs"] = _noted(view, person_key, event.needs, at)
            return replace(counts, referrals=referrals)
        case Contact():
            if event.needs_observed:
                updates["persons_with_needs"] = _noted(view, person_key, event.needs_observed, at)
            return replace(counts, contacts=counts.contacts + 1)
        case VolunteerAction():
            last = view.volunteers.get(event.volunteer_id)
            if last is None or at > last:
                updates["volunteers"] = {**view.volunteers, event.volunteer_id: at}
            return replace(counts, volunteer_actions=counts.volunteer_actions + 1)
        case _:
            return counts


def _noted(
    view: PlaceView, person_key: str, needs: Iterable[Need], at: datetime
) -> dict[str, Mapping[Need, datetime]]:
    """``view``'s persons with ``needs`` noted for ``person_key`` at ``at`` (latest kept)."""
    noted = dict(view.persons_with_needs.get(person_key, {}))
    for need in needs:
        if need not in noted or at > noted[need]:
            noted[need] = at
    return {**view.persons_with_needs, person_key: noted}


def _pruned(view: PlaceView, horizon: date) -> PlaceView:
    """``view`` without what happened before the week ``horizon``."""
    start = datetime.combine(horizon, time(), tzinfo=UTC)
    persons: dict[str, Mapping[Need, datetime]] = {}
    for person, needs in view.persons_with_needs.items():
        kept = {need: moment for need, moment in needs.items() if moment >= start}
        if kept:
            persons[person] = kept
    return view.model_copy(
        update={
            "weeks": {monday: c for monday, c in view.weeks.items() if monday >= horizon},
            "volunteers": {name: t for name, t in view.volunteers.items() if t >= start},
            "persons_with_needs": persons,
            "recent_events": tuple(rank for rank in view.recent_events if rank[0] >= start),
        }
    )
