"""The shared view's tables and the read audit, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast
from uuid import UUID

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from schemas.models import AgencyEvent, Handoff
from streams.store import AuditEntry, Store, StoreError
from streams.store.views import PersonViewRow, PlaceViewRow
from streams.views import PersonView, PlaceView, apply_person, apply_place, replay
from tests.views.builders import PERSON, contact, hours, referral, volunteer_action

OTHER = "p-other"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def events() -> list[tuple[str, AgencyEvent | Handoff]]:
    return [
        (PERSON, referral(1, hours(0))),
        (PERSON, contact(2, hours(1))),
        (OTHER, referral(3, hours(2))),
        (OTHER, volunteer_action(4, hours(3), place={"place_id": "E01000002"})),
    ]


def ids(folded: list[tuple[str, AgencyEvent | Handoff]]) -> list[tuple[UUID, str]]:
    return [(event.event_id, key) for key, event in folded]


def apply(store: Store, folded: list[tuple[str, AgencyEvent | Handoff]]) -> int:
    persons, places = replay(folded)
    return store.views.apply_batch(persons, places, ids(folded))


def age_every_row(store: Store) -> None:
    """Set every view's ``updated_at`` far back, to see which rows a write touches."""
    with store.engine.begin() as connection:
        connection.execute(update(PersonViewRow).values(updated_at=LONG_AGO))
        connection.execute(update(PlaceViewRow).values(updated_at=LONG_AGO))


def updated_at(store: Store) -> dict[str, datetime]:
    """When each person and place view was last written, by key."""
    with store.engine.connect() as connection:
        persons = connection.execute(select(PersonViewRow.person_key, PersonViewRow.updated_at))
        places = connection.execute(select(PlaceViewRow.place_id, PlaceViewRow.updated_at))
        return {key: moment for key, moment in [*persons, *places]}


def test_views_are_stored_and_read_back_equal(store: Store) -> None:
    persons, places = replay(events())

    assert store.views.apply_batch(persons, places, ids(events())) == 4

    assert store.views.person(PERSON) == persons[PERSON]
    assert store.views.place("E01000002") == places["E01000002"]
    assert store.views.persons() == persons
    assert store.views.places() == places
    assert store.views.person("p-unknown") is None
    assert store.views.place("E09999999") is None


def test_the_same_batch_twice_changes_nothing(store: Store) -> None:
    apply(store, events())
    age_every_row(store)
    before = (store.views.persons(), store.views.places(), updated_at(store))

    assert apply(store, events()) == 0

    assert (store.views.persons(), store.views.places(), updated_at(store)) == before


def test_a_changed_view_replaces_the_stored_one_and_only_it(store: Store) -> None:
    apply(store, events())
    age_every_row(store)
    more = [*events(), (PERSON, contact(5, hours(9), place={"place_id": "E01000002"}))]

    assert apply(store, more) == 1

    persons, places = replay(more)
    assert store.views.persons() == persons
    assert store.views.places() == places
    changed = {key for key, moment in updated_at(store).items() if moment != LONG_AGO}
    assert changed == {PERSON, "E01000002"}


def test_last_event_at_is_stored_beside_the_view(store: Store) -> None:
    apply(store, events())

    with store.engine.connect() as connection:
        stored = connection.execute(
            select(PersonViewRow.last_event_at).where(PersonViewRow.person_key == PERSON)
        ).scalar_one()
    assert stored == hours(1)
    assert stored is not None
    assert stored.tzinfo is UTC


def test_applied_knows_which_events_made_the_views(store: Store) -> None:
    apply(store, events()[:2])

    assert store.views.applied({UUID(int=1), UUID(int=2), UUID(int=3)}) == {
        UUID(int=1),
        UUID(int=2),
    }


def test_a_view_under_another_key_is_refused_and_nothing_is_written(store: Store) -> None:
    view = PersonView(person_key=PERSON)

    with pytest.raises(StoreError, match="another key"):
        store.views.apply_batch({OTHER: view}, {}, [(UUID(int=1), OTHER)])
    with pytest.raises(StoreError, match="another key"):
        store.views.apply_batch({}, {"E1": PlaceView(place_id="E2")}, [])

    assert store.views.applied({UUID(int=1)}) == set()
    assert store.views.persons() == {}


def test_a_failed_batch_writes_nothing(store: Store) -> None:
    persons, places = replay(events())
    # What a caller's bug would send: the database refuses the missing person key.
    broken = cast(list[tuple[UUID, str]], [(UUID(int=9), None)])

    with pytest.raises(StoreError, match="writing views"):
        store.views.apply_batch(persons, places, broken)

    assert store.views.persons() == {}
    assert store.views.places() == {}


def test_erase_removes_the_person_everywhere_and_keeps_the_rest(store: Store) -> None:
    apply(store, events())
    age_every_row(store)

    store.views.erase(PERSON)

    persons, places = replay(events())
    assert store.views.person(PERSON) is None
    assert store.views.persons() == {OTHER: persons[OTHER]}
    assert store.views.places() == {key: view.erase(PERSON) for key, view in places.items()}
    assert store.views.applied({UUID(int=n) for n in range(1, 5)}) == {UUID(int=3), UUID(int=4)}
    changed = {key for key, moment in updated_at(store).items() if moment != LONG_AGO}
    assert changed == {"E01000001"}


def test_erase_matches_the_key_exactly(store: Store) -> None:
    """LIKE's wildcards and SQLite's case-blind LIKE must not erase someone else."""
    folded: list[tuple[str, AgencyEvent | Handoff]] = [
        ("p_1", referral(1, hours(0))),
        ("pX1", referral(2, hours(1))),
        ("P_1", referral(3, hours(2))),
    ]
    apply(store, folded)

    store.views.erase("p_1")

    place = store.views.place("E01000001")
    assert place is not None
    assert set(place.persons_with_needs) == {"pX1", "P_1"}
    assert set(store.views.persons()) == {"pX1", "P_1"}


def test_erasing_an_unknown_person_changes_nothing(store: Store) -> None:
    apply(store, events())
    before = (store.views.persons(), store.views.places())

    store.views.erase("p-unknown")

    assert (store.views.persons(), store.views.places()) == before


def test_the_audit_records_reads_in_order(store: Store) -> None:
    first = store.audit.record(
        "district-nursing", PERSON, "person_view", "direct_care", granted=True
    )
    store.audit.record("housing-options", PERSON, "person_view", "", granted=False)
    store.audit.record("district-nursing", OTHER, "person_view", "open_handoff", granted=True)

    entries = store.audit.entries()

    assert first == entries[0]
    assert entries == [
        AuditEntry(
            team="district-nursing",
            person_key=PERSON,
            what="person_view",
            basis="direct_care",
            granted=True,
        ),
        AuditEntry(
            team="housing-options", person_key=PERSON, what="person_view", basis="", granted=False
        ),
        AuditEntry(
            team="district-nursing",
            person_key=OTHER,
            what="person_view",
            basis="open_handoff",
            granted=True,
        ),
    ]
    positions = [entry.id or 0 for entry in entries]
    assert positions == sorted(set(positions))
    assert all(entry.at is not None and entry.at.tzinfo is UTC for entry in entries)


def test_audit_entries_filter_and_page(store: Store) -> None:
    for n in range(5):
        store.audit.record(f"team-{n % 2}", PERSON if n < 3 else OTHER, "v", "b", granted=True)

    by_person = store.audit.entries(person_key=PERSON)
    by_team = store.audit.entries(team="team-1")
    page = store.audit.entries(limit=2)
    rest = store.audit.entries(since_id=page[-1].id or 0)

    assert [e.team for e in by_person] == ["team-0", "team-1", "team-0"]
    assert [e.person_key for e in by_team] == [PERSON, OTHER]
    assert len(page) == 2
    assert page + rest == store.audit.entries()
    assert [e.id for e in page + rest] == [e.id for e in store.audit.entries()]


@pytest.mark.parametrize(
    "statement", ["UPDATE read_audit SET granted = (1 = 1)", "DELETE FROM read_audit"]
)
def test_the_database_refuses_changing_the_audit(store: Store, statement: str) -> None:
    store.audit.record("district-nursing", PERSON, "person_view", "", granted=False)

    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text(statement))

    assert [e.granted for e in store.audit.entries()] == [False]


def test_erasure_keeps_the_audit(store: Store) -> None:
    apply(store, events())
    store.audit.record("district-nursing", PERSON, "person_view", "direct_care", granted=True)

    store.views.erase(PERSON)

    assert [e.person_key for e in store.audit.entries()] == [PERSON]


def test_batches_of_a_stream_leave_the_store_equal_to_the_replay(store: Store) -> None:
    """What the view agents do: fold each batch, write the views it changed, at least once."""
    folded: list[tuple[str, AgencyEvent | Handoff]] = [
        (f"p-{n % 7}", (referral if n % 3 else contact)(n, hours(n * 5 % 300)))
        for n in range(1, 201)
    ]
    persons: dict[str, PersonView] = {}
    places: dict[str, PlaceView] = {}
    batches = [folded[start : start + 37] for start in range(0, len(folded), 37)]
    for batch in [*batches, *batches[2:4]]:
        touched = replay_into(persons, places, batch)
        store.views.apply_batch({key: persons[key] for key in touched}, places, ids(batch))

    assert (store.views.persons(), store.views.places()) == replay(folded)
    assert store.views.applied({UUID(int=n) for n in range(1, 202)}) == {
        UUID(int=n) for n in range(1, 201)
    }


def replay_into(
    persons: dict[str, PersonView],
    places: dict[str, PlaceView],
    batch: list[tuple[str, AgencyEvent | Handoff]],
) -> set[str]:
    """Fold ``batch`` into ``persons`` and ``places``; the keys of the persons it touched."""
    for key, event in batch:
        assert isinstance(event, AgencyEvent)
        persons[key] = apply_person(persons.get(key), key, event)
        if event.place is not None:
            place_id = event.place.place_id
            places[place_id] = apply_place(places.get(place_id), place_id, key, event)
    return {key for key, _ in batch}
