"""Erasure across the store, on SQLite and on PostgreSQL alike: identifiers go, ids stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from alembic import command
from sqlalchemy import text

from streams.identity.matcher import Matcher
from streams.identity.records import IdentityRecord
from streams.store import AcceptedEntry, Erased, JournalEntry, Store, create_engine, migrate
from streams.store.migrate import alembic_config
from tests.samples import sample_alert

SECRET = b"a test secret of thirty-two bytes!"
REQUEST = UUID(int=999)

MARGARET = [
    IdentityRecord("council", "c-88", "Margaret", "Okonkwo", "1948-03-07", "14 Elm Rd", "LS6 2AB"),
    IdentityRecord("gp", "g-7", "Peggy", "Okonkwo", "07/03/1948", "14 Elm Road", "LS6 2AB"),
]
TOMASZ = IdentityRecord("housing", "h-2", "Tomasz", "Nowak", "1988-11-30", "12 Mill St", "LS9 8QP")
#: Whatever would identify Margaret, as it appears in the rows.
IDENTIFIERS = ("Margaret", "Peggy", "Okonkwo", "LS6 2AB", "Elm", "c-88", "g-7", "1948")
#: The tables erasure writes to.
TABLES = (
    "event_journal",
    "accepted_events",
    "identity_observations",
    "identity_retired_keys",
    "identity_reviews",
    "person_erasures",
)


def journal_entry(number: int, record: IdentityRecord) -> JournalEntry:
    """An event about ``record``'s person, its identifiers in the payload as events carry them."""
    return JournalEntry(
        event_id=UUID(int=number),
        kind="contact",
        record="Contact",
        agency=record.agency,
        local_id=record.local_id,
        occurred_at=datetime(2025, 6, 1, 9, number, tzinfo=UTC),
        payload=json.dumps({"person": record._asdict(), "note": "welfare visit"}),
        source_topic="backbone.contacts",
        source_partition=0,
        source_offset=number,
    )


def accepted_entry(number: int, record: IdentityRecord) -> AcceptedEntry:
    """The accepted message of the same event: Avro-like bytes with the identifiers."""
    strings = [value.encode() for value in record if value]
    return AcceptedEntry(
        event_id=UUID(int=number),
        kind="contact",
        agency=record.agency,
        connector="http",
        fingerprint=f"{number:064x}",
        topic="backbone.contacts",
        key=f"{record.agency}:{record.local_id}".encode(),
        payload=b"\x00\x00\x00\x00\x07" + b"".join(bytes([len(s) * 2]) + s for s in strings),
    )


def events() -> list[tuple[int, IdentityRecord]]:
    return [(1, MARGARET[0]), (2, TOMASZ), (3, MARGARET[1]), (4, MARGARET[0])]


def record_events(store: Store) -> None:
    store.journal.record_many([journal_entry(n, record) for n, record in events()])
    store.accepted.record_many([accepted_entry(n, record) for n, record in events()])


def rows(store: Store, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` as the database holds it, by its first column."""
    with store.engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1")).mappings()
        ]


def identified(row: dict[str, Any]) -> list[str]:
    """The identifiers of Margaret that some column of ``row`` still holds."""
    found = []
    for value in row.values():
        content = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        found += [name for name in IDENTIFIERS if name.lower() in content.lower()]
    return found


def resolved(store: Store) -> tuple[Matcher, str, str]:
    """A matcher that knows Margaret (two links) and Tomasz, kept in the identity store."""
    matcher = Matcher(SECRET)
    margaret = [matcher.resolve(record).person_key for record in MARGARET]
    assert margaret[0] == margaret[1]
    tomasz = matcher.resolve(TOMASZ).person_key
    snapshot = matcher.snapshot()
    store.identity.append(snapshot.observations)
    store.identity.learn(snapshot.learned)
    store.identity.add_review(margaret[0], [(tomasz, 3.5)])
    store.identity.add_review(tomasz, [(margaret[0], 3.5)])
    return matcher, margaret[0], tomasz


def test_scrubbed_rows_keep_their_ids_and_lose_every_identifier(store: Store) -> None:
    record_events(store)
    _, margaret, _ = resolved(store)
    others = {table: rows(store, table) for table in ("event_journal", "accepted_events")}

    store.erasures.erase(REQUEST, margaret, [record.link for record in MARGARET])

    for table in ("event_journal", "accepted_events"):
        after = rows(store, table)
        assert [row["event_id"] for row in after] == [row["event_id"] for row in others[table]]
        scrubbed = [row for row in after if row["erased_at"] is not None]
        assert len(scrubbed) == 3
        assert all(identified(row) == [] for row in scrubbed)
        untouched = [row for row in after if row["erased_at"] is None]
        assert untouched == [row for row in others[table] if "h-2" in str(row)]
        assert all(identified(row) == [] for row in untouched)  # Tomasz's rows are Tomasz's
    journal = store.journal.entries()
    assert [(e.local_id, e.payload, e.erased_at is None) for e in journal] == [
        ("", "", False),
        ("h-2", journal_entry(2, TOMASZ).payload, True),
        ("", "", False),
        ("", "", False),
    ]
    accepted = store.accepted.entries()
    assert [(e.key, e.payload, e.fingerprint) for e in accepted if e.erased_at] == [
        (b"", b"", f"{n:064x}") for n in (1, 3, 4)
    ]


def test_redelivered_and_resent_events_are_still_repeats(store: Store) -> None:
    record_events(store)
    store.erasures.erase(REQUEST, None, [record.link for record in MARGARET])

    assert store.journal.record_many([journal_entry(n, record) for n, record in events()]) == 0
    assert store.accepted.record_many([accepted_entry(n, record) for n, record in events()]) == 0
    assert store.accepted.fingerprints({UUID(int=3)}) == {UUID(int=3): f"{3:064x}"}
    assert all(identified(row) == [] for row in rows(store, "event_journal") if row["erased_at"])


def test_identity_observations_go_and_the_key_is_retired(store: Store) -> None:
    matcher, margaret, tomasz = resolved(store)

    store.erasures.erase(REQUEST, margaret, [record.link for record in MARGARET])

    snapshot = store.identity.snapshot()
    assert [o.person_key for o in snapshot.observations] == [tomasz]
    assert margaret in snapshot.retired_keys
    assert [review.person_key for review in store.identity.reviews()] == [tomasz]
    assert all(identified(row) == [] for row in rows(store, "identity_observations"))
    # The store and the matcher agree on what is left.
    assert matcher.forget(margaret) == tuple(record.link for record in MARGARET)
    restored = Matcher(SECRET)
    restored.restore(snapshot)
    assert restored.snapshot() == matcher.snapshot()
    again = restored.resolve(MARGARET[0])
    assert again.outcome == "new"
    assert again.person_key != margaret
    assert restored.resolve(MARGARET[1]).person_key == again.person_key


def test_erasing_twice_changes_nothing(store: Store) -> None:
    record_events(store)
    _, margaret, _ = resolved(store)
    links = [record.link for record in MARGARET]
    store.erasures.erase(REQUEST, margaret, links)
    before = {table: rows(store, table) for table in TABLES}
    erased = store.erasures.erased_key(REQUEST)

    store.erasures.erase(REQUEST, margaret, links)

    assert {table: rows(store, table) for table in TABLES} == before
    assert store.erasures.erased_key(REQUEST) == erased


def test_a_link_nobody_knew_is_still_scrubbed_and_the_request_recorded(store: Store) -> None:
    record_events(store)
    resolved(store)
    identity = {table: rows(store, table) for table in TABLES if table.startswith("identity")}

    store.erasures.erase(REQUEST, None, [MARGARET[1].link])

    assert [e.local_id for e in store.journal.entries()] == ["c-88", "h-2", "", "c-88"]
    assert [e.erased_at is not None for e in store.accepted.entries()] == [
        False,
        False,
        True,
        False,
    ]
    assert {table: rows(store, table) for table in identity} == identity
    erased = store.erasures.erased_key(REQUEST)
    assert erased is not None
    assert erased.person_key is None


def test_erased_key_says_whether_and_for_whom_a_request_was_carried_out(store: Store) -> None:
    _, margaret, _ = resolved(store)
    assert store.erasures.erased_key(REQUEST) is None

    started = datetime.now(UTC)
    store.erasures.erase(REQUEST, margaret, [MARGARET[0].link])

    erased = store.erasures.erased_key(REQUEST)
    assert erased == Erased(margaret, erased.erased_at if erased else started)
    assert erased is not None
    assert erased.erased_at.tzinfo is not None
    assert abs((erased.erased_at - started).total_seconds()) < 60
    assert store.erasures.erased_key(UUID(int=1000)) is None


def test_rows_recorded_before_the_erasure_migration_read_back_unerased(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0004")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO event_journal (event_id, kind, record, agency, local_id,"
                    " occurred_at, payload, source_topic, source_partition, source_offset)"
                    " VALUES (:event_id, 'contact', 'Contact', 'council', 'c-88',"
                    " :occurred_at, '{}', 'backbone.contacts', 0, 1)"
                ),
                {
                    "event_id": UUID(int=1).hex if engine.dialect.name == "sqlite" else UUID(int=1),
                    "occurred_at": datetime(2025, 6, 1, tzinfo=UTC),
                },
            )
    finally:
        engine.dispose()

    migrate(database_url)

    with Store.open(database_url) as store:
        (entry,) = store.journal.entries()
        assert (entry.event_id, entry.local_id, entry.erased_at) == (UUID(int=1), "c-88", None)
        store.erasures.erase(REQUEST, None, [("council", "c-88")])
        (entry,) = store.journal.entries()
        assert (entry.local_id, entry.payload) == ("", "")
        assert entry.erased_at is not None


def test_the_alerts_about_an_erased_person_leave_every_feed(store: Store) -> None:
    _, margaret, tomasz = resolved(store)
    about_margaret = sample_alert().model_copy(update={"subject": margaret})
    about_tomasz = sample_alert().model_copy(update={"alert_id": "a-2", "subject": tomasz})
    assert store.alerts.record([about_margaret, about_tomasz]) == 2

    store.erasures.erase(REQUEST, margaret, [record.link for record in MARGARET])

    assert store.alerts.get(about_margaret.alert_id) is None
    feed = store.alerts.for_team(about_tomasz.teams[0])
    assert [shown.alert.alert_id for shown in feed] == ["a-2"]
