"""The place view: weekly counts, rolling windows, capacity, bounds and erasure."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from schemas.models import AgencyEvent, Need
from streams.views import ErasureNotFoldedError, PlaceView, apply_place, dump_json, week_of
from streams.views.place import DEFAULT_WEEKS
from tests.views.builders import (
    PERSON,
    PLACE,
    START,
    consent,
    contact,
    erasure,
    hours,
    referral,
    volunteer_action,
)

OTHER = "p-other"
MONDAY = START.date()


def days(count: float) -> datetime:
    return hours(24 * count)


def fold(*events: AgencyEvent, person: str = PERSON, weeks: int = DEFAULT_WEEKS) -> PlaceView:
    view: PlaceView | None = None
    for event in events:
        view = apply_place(view, PLACE, person, event, weeks=weeks)
    assert view is not None
    return view


def test_weeks_are_keyed_by_their_monday_in_utc() -> None:
    assert week_of(datetime.fromisoformat("2024-06-09T23:30:00+00:00")) == date(2024, 6, 3)
    # 00:30 on Monday in British Summer Time is still Sunday in UTC.
    assert week_of(datetime.fromisoformat("2024-06-10T00:30:00+01:00")) == date(2024, 6, 3)
    assert week_of(datetime.fromisoformat("2024-06-10T01:30:00+01:00")) == date(2024, 6, 10)


def test_referrals_count_per_need_per_week() -> None:
    view = fold(
        referral(1, days(0), needs=[Need.FOOD, Need.MONEY]),
        referral(2, days(6), needs=[Need.FOOD]),
        referral(3, days(8), needs=[Need.FOOD]),
    )

    week = MONDAY + timedelta(days=7)
    assert view.referrals_in(Need.FOOD, MONDAY, week) == 2
    assert view.referrals_in(Need.FOOD, week, week + timedelta(days=7)) == 1
    assert view.referrals_by_need(MONDAY, week + timedelta(days=7)) == {
        Need.FOOD: 3,
        Need.MONEY: 1,
    }
    assert set(view.weeks) == {MONDAY, week}


def test_a_need_named_twice_in_one_referral_counts_once() -> None:
    view = fold(referral(1, days(0), needs=[Need.FOOD, Need.FOOD]))

    assert view.referrals_in(Need.FOOD, MONDAY, MONDAY + timedelta(days=7)) == 1


def test_contacts_and_volunteer_actions_count_per_week_and_consent_counts_nowhere() -> None:
    view = fold(
        contact(1, days(1)),
        contact(2, days(2)),
        volunteer_action(3, days(9)),
        consent(4, days(20)),
    )

    assert view.contacts_in(MONDAY, MONDAY + timedelta(days=7)) == 2
    assert view.volunteer_actions_in(MONDAY, MONDAY + timedelta(days=14)) == 1
    assert set(view.weeks) == {MONDAY, MONDAY + timedelta(days=7)}
    assert view.last_event_at == days(20)


def test_referrals_doubling_shows_in_the_last_week_against_the_four_before() -> None:
    """What the alerts issue asks: this week's referrals against the weekly average before."""
    earlier = [referral(n, days(n * 7 / 3), needs=[Need.FOOD]) for n in range(12)]
    this_week = [referral(100 + n, days(28 + n / 4), needs=[Need.FOOD]) for n in range(6)]
    view = fold(*earlier, *this_week)

    now = week_of(days(28))
    recent = view.referrals_in(Need.FOOD, now, now + timedelta(days=7))
    before = view.referrals_in(Need.FOOD, now - timedelta(days=28), now)
    assert (recent, before) == (6, 12)
    assert recent >= 2 * before / 4


def test_active_volunteers_are_those_seen_in_the_last_28_days() -> None:
    view = fold(
        volunteer_action(1, days(0), volunteer_id="vol-1"),
        volunteer_action(2, days(20), volunteer_id="vol-2"),
        volunteer_action(3, days(40), volunteer_id="vol-3"),
        volunteer_action(4, days(5), volunteer_id="vol-2"),
    )

    assert view.volunteers == {"vol-1": days(0), "vol-2": days(20), "vol-3": days(40)}
    assert view.active_volunteers(days(41)) == {"vol-2", "vol-3"}
    assert view.active_volunteers(days(21)) == {"vol-1", "vol-2"}
    assert view.active_volunteers(days(21), within=timedelta(days=7)) == {"vol-2"}


def test_persons_with_needs_raised_or_observed_lately() -> None:
    view = fold(referral(1, days(0), needs=[Need.FOOD]))
    view = apply_place(view, PLACE, OTHER, contact(2, days(30), needs_observed=[Need.LONELINESS]))
    view = apply_place(view, PLACE, "p-quiet", contact(3, days(31), needs_observed=None))

    assert view.persons_with_needs == {
        PERSON: {Need.FOOD: days(0)},
        OTHER: {Need.LONELINESS: days(30)},
    }
    assert view.persons_with_open_needs(days(10)) == {PERSON}
    assert view.persons_with_open_needs(days(31)) == {OTHER}


def test_erase_removes_the_person_and_keeps_the_counts() -> None:
    view = fold(referral(1, days(0), needs=[Need.FOOD]))
    view = apply_place(view, PLACE, OTHER, referral(2, days(1), needs=[Need.MONEY]))

    erased = view.erase(PERSON)

    assert set(erased.persons_with_needs) == {OTHER}
    assert erased.weeks == view.weeks
    assert PERSON not in dump_json(erased)
    assert erased.erase("p-never-seen") is erased


def test_only_the_last_weeks_are_kept_and_older_events_are_ignored() -> None:
    view = fold(
        referral(1, days(0), needs=[Need.FOOD]),
        volunteer_action(2, days(1), volunteer_id="vol-1"),
        referral(3, days(14), needs=[Need.FOOD]),
        weeks=3,
    )
    assert set(view.weeks) == {MONDAY, MONDAY + timedelta(days=14)}

    moved = apply_place(view, PLACE, OTHER, contact(4, days(21), needs_observed=None), weeks=3)

    assert set(moved.weeks) == {MONDAY + timedelta(days=14), MONDAY + timedelta(days=21)}
    assert moved.volunteers == {}
    assert set(moved.persons_with_needs) == {PERSON}
    assert moved.persons_with_needs[PERSON] == {Need.FOOD: days(14)}
    assert all(at >= days(14) - timedelta(hours=9) for at, _ in moved.recent_events)
    assert apply_place(moved, PLACE, OTHER, referral(5, days(3)), weeks=3) is moved


def test_the_same_event_twice_counts_once() -> None:
    view = fold(referral(1, days(0)), contact(2, days(1)))

    assert apply_place(view, PLACE, PERSON, referral(1, days(0))) is view


def test_an_erasure_request_is_not_folded_and_another_place_is_refused() -> None:
    view = fold(contact(1, days(0)))

    with pytest.raises(ErasureNotFoldedError):
        apply_place(view, PLACE, PERSON, erasure(2, days(1)))
    with pytest.raises(ValueError, match="another place"):
        apply_place(view, "E09999999", PERSON, contact(3, days(1)))
    with pytest.raises(ValueError, match="at least one week"):
        apply_place(view, PLACE, PERSON, contact(4, days(1)), weeks=0)


def test_a_place_view_survives_a_json_round_trip() -> None:
    view = fold(referral(1, days(0)), contact(2, days(8)), volunteer_action(3, days(9)))

    assert PlaceView.model_validate_json(dump_json(view)) == view
    assert PlaceView.model_validate(view.model_dump(mode="json")) == view
