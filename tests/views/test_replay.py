"""The oracle, and the property it rests on: any arrival order gives the same views."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.models import AgencyEvent, Handoff, Need
from streams.views import (
    PersonView,
    PlaceView,
    apply_handoff,
    apply_person,
    apply_place,
    dump_json,
    erase_person,
    replay,
)
from streams.views.person import RECENT_EVENTS
from streams.views.place import DEFAULT_WEEKS
from tests.views.builders import (
    PERSON,
    contact,
    erasure,
    handoff,
    hours,
    keyed_events,
    referral,
)

PERSONS = (PERSON, "p-second", "p-third")
#: Weeks kept: few, so that the ten weeks of generated events move the horizon and prune,
#: or the default, so that they do not.
WEEKS = st.sampled_from([2, 4, DEFAULT_WEEKS])

Keyed = list[tuple[str, AgencyEvent | Handoff]]


@settings(deadline=None)
@given(events=keyed_events(persons=PERSONS), data=st.data())
def test_any_arrival_order_gives_equal_views(events: Keyed, data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(events))
    weeks = data.draw(WEEKS)

    persons, places = replay(shuffled, weeks=weeks)
    expected_persons, expected_places = replay(events, weeks=weeks)

    assert (persons, places) == (expected_persons, expected_places)
    # Equal views are equal text too, which the SQL store relies on.
    assert texts(persons) == texts(expected_persons)
    assert texts(places) == texts(expected_places)


def texts(views: Mapping[str, PersonView] | Mapping[str, PlaceView]) -> dict[str, str]:
    return {key: dump_json(view) for key, view in views.items()}


@settings(deadline=None)
@given(events=keyed_events(persons=PERSONS), data=st.data())
def test_redelivered_events_change_nothing(events: Keyed, data: st.DataObject) -> None:
    again = data.draw(st.lists(st.sampled_from(events))) if events else []
    redelivered = data.draw(st.permutations(events + again))
    weeks = data.draw(WEEKS)

    assert replay(redelivered, weeks=weeks) == replay(events, weeks=weeks)


@settings(deadline=None)
@given(events=keyed_events(), data=st.data())
def test_the_derived_parts_agree_across_orders(events: Keyed, data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(events))
    view = replay(events)[0].get(PERSON)
    other = replay(shuffled)[0].get(PERSON)

    if view is None or other is None:
        assert view is other
        return
    assert view.open_needs() == other.open_needs()
    assert view.open_referrals() == other.open_referrals()
    assert view.open_handoff_teams() == other.open_handoff_teams()


@settings(deadline=None, max_examples=25)
@given(events=keyed_events(persons=PERSONS, max_size=40))
def test_views_survive_a_json_round_trip(events: Keyed) -> None:
    persons, places = replay(events)

    for person in persons.values():
        assert PersonView.model_validate_json(dump_json(person)) == person
    for place in places.values():
        assert PlaceView.model_validate_json(dump_json(place)) == place


def test_orders_agree_beyond_the_windows_bounds() -> None:
    events: Keyed = [
        (PERSON, contact(n, hours(n % 37), team=f"team-{n % 3}", needs_observed=[Need.FOOD]))
        for n in range(1, 3 * RECENT_EVENTS)
    ]
    shuffled = random.Random(7).sample(events, len(events))

    assert replay(shuffled) == replay(events)


def test_replay_equals_folding_one_by_one() -> None:
    generator = random.Random(11)
    events: Keyed = []
    for n in range(1, 301):
        key = generator.choice(PERSONS)
        make = generator.choice([referral, contact])
        events.append((key, make(n, hours(generator.randrange(2000)))))

    persons: dict[str, PersonView] = {}
    places: dict[str, PlaceView] = {}
    for key, event in events:
        assert isinstance(event, AgencyEvent)
        persons[key] = apply_person(persons.get(key), key, event)
        assert event.place is not None
        place_id = event.place.place_id
        places[place_id] = apply_place(places.get(place_id), place_id, key, event)

    assert replay(events) == (persons, places)


def test_erasure_removes_the_person_everywhere_and_a_later_event_starts_afresh() -> None:
    events: Keyed = [
        (PERSON, referral(1, hours(0))),
        ("p-second", referral(2, hours(1))),
        (PERSON, erasure(3, hours(2))),
    ]

    persons, places = replay(events)

    assert set(persons) == {"p-second"}
    assert all(PERSON not in place.persons_with_needs for place in places.values())
    assert all(PERSON not in dump_json(place) for place in places.values())
    assert (persons, places) == erase_person(*replay(events[:2]), PERSON)
    later, _ = replay([*events, (PERSON, contact(4, hours(3)))])
    assert later[PERSON].referrals == {}


def test_routing_messages_are_folded_into_the_person_they_name() -> None:
    message = handoff(1, hours(1))
    persons, _ = replay([(PERSON, message)])

    assert persons[PERSON] == apply_handoff(None, message)
    with pytest.raises(ValueError, match="another person"):
        replay([("p-second", message)])
