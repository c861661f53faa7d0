"""The event journal and its migrations, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import cast
from uuid import UUID, uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from streams.store import JournalEntry, Store, StoreError, create_engine, migrate
from streams.store.base import Base
from streams.store.migrate import MIGRATIONS

LONDON_SUMMER = timezone(timedelta(hours=1))


def entry(
    number: int,
    kind: str = "referral",
    occurred_at: datetime = datetime(2025, 6, 1, 9, 30, tzinfo=UTC),
) -> JournalEntry:
    """The ``number``-th event of a made-up stream, with its own id and offset."""
    return JournalEntry(
        event_id=UUID(int=number + 1),
        kind=kind,
        record="Referral" if kind == "referral" else "Contact",
        agency="leeds-city-council",
        local_id=f"person-{number}",
        occurred_at=occurred_at,
        payload=f'{{"n": {number}, "note": "needs a welfare visit ✓"}}',
        source_topic=f"backbone.{kind}s",
        source_partition=number % 4,
        source_offset=10_000_000_000 + number,
    )


#: The newest revision, as Alembic's script directory names it.
HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()


def schema_versions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            )
    finally:
        engine.dispose()


def test_migrate_creates_the_journal_on_an_empty_database(database_url: str) -> None:
    migrate(database_url)

    engine = create_engine(database_url)
    try:
        assert {"alembic_version", "event_journal"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert schema_versions(database_url) == [HEAD]


def test_migrate_twice_changes_nothing(database_url: str) -> None:
    migrate(database_url)
    with Store.open(database_url) as store:
        store.journal.record_many([entry(1)])

    migrate(database_url)

    assert schema_versions(database_url) == [HEAD]
    with Store.open(database_url) as store:
        assert store.journal.entries() == [entry(1)]


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert differences == []


def test_migrate_refuses_a_database_from_an_unknown_release(database_url: str) -> None:
    migrate(database_url)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    finally:
        engine.dispose()

    with pytest.raises(StoreError, match="migrating") as raised:
        migrate(database_url)
    assert raised.value.__cause__ is not None


def test_record_many_returns_how_many_were_new(store: Store) -> None:
    assert store.journal.record_many([entry(1), entry(2), entry(3)]) == 3

    assert store.journal.count() == 3
    assert store.journal.get(UUID(int=2)) == entry(1)


def test_replaying_a_batch_changes_nothing(store: Store) -> None:
    batch = [entry(1), entry(2)]
    store.journal.record_many(batch)
    before = store.journal.entries()

    assert store.journal.record_many(batch) == 0

    after = store.journal.entries()
    assert after == before
    assert [(e.position, e.recorded_at) for e in after] == [
        (e.position, e.recorded_at) for e in before
    ]


def test_a_batch_mixing_old_and_new_records_only_the_new(store: Store) -> None:
    store.journal.record_many([entry(1), entry(2)])

    assert store.journal.record_many([entry(2), entry(3), entry(1), entry(4)]) == 2

    assert store.journal.entries() == [entry(1), entry(2), entry(3), entry(4)]


def test_an_event_twice_in_one_batch_is_recorded_once(store: Store) -> None:
    assert store.journal.record_many([entry(1), entry(1)]) == 1

    assert store.journal.count() == 1


def test_an_empty_batch_records_nothing(store: Store) -> None:
    assert store.journal.record_many([]) == 0

    assert store.journal.count() == 0


def test_a_batch_that_fails_midway_records_nothing(store: Store) -> None:
    store.journal.record_many([entry(1)])
    # What a caller's bug would send: the database refuses the missing payload.
    broken = replace(entry(3), payload=cast(str, None))

    with pytest.raises(StoreError, match="recording journal entries failed"):
        store.journal.record_many([entry(2), broken])

    assert store.journal.entries() == [entry(1)]


def test_entries_come_back_in_insertion_order(store: Store) -> None:
    store.journal.record_many([entry(5), entry(1, kind="contact"), entry(3)])
    store.journal.record_many([entry(2), entry(4, kind="contact")])

    everything = store.journal.entries()

    assert [e.local_id for e in everything] == [f"person-{n}" for n in (5, 1, 3, 2, 4)]
    positions = [e.position for e in everything if e.position is not None]
    assert len(positions) == len(everything)
    assert positions == sorted(set(positions))


def test_entries_filter_by_kind_and_page_by_position(store: Store) -> None:
    store.journal.record_many([entry(n, kind="contact" if n % 2 else "referral") for n in range(6)])

    contacts = store.journal.entries(kind="contact")
    first_page = store.journal.entries(limit=2)
    last_seen = first_page[-1].position
    assert last_seen is not None
    next_page = store.journal.entries(since_position=last_seen, limit=2)

    assert [e.local_id for e in contacts] == ["person-1", "person-3", "person-5"]
    assert [e.local_id for e in first_page + next_page] == [f"person-{n}" for n in range(4)]
    assert store.journal.entries(since_position=10**12) == []


def test_get_of_an_unrecorded_event_is_none(store: Store) -> None:
    assert store.journal.get(uuid4()) is None


def test_datetimes_come_back_aware_and_in_utc(store: Store) -> None:
    occurred = datetime(2025, 7, 14, 8, 15, 30, 123456, tzinfo=LONDON_SUMMER)
    store.journal.record_many([entry(1, occurred_at=occurred)])

    read = store.journal.get(UUID(int=2))

    assert read is not None
    assert read.occurred_at == occurred
    assert read.occurred_at.tzinfo is UTC
    assert read.occurred_at.hour == 7
    assert read.recorded_at is not None
    assert read.recorded_at.tzinfo is UTC
    assert abs(read.recorded_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(StoreError, match="no time zone"):
        entry(1, occurred_at=datetime(2025, 6, 1, 9, 30))


def test_ping_is_true_for_an_open_store(store: Store) -> None:
    assert store.ping() is True


def test_ping_is_false_when_the_database_is_unreachable(unreachable_url: str) -> None:
    store = Store(create_engine(unreachable_url))
    try:
        assert store.ping() is False
    finally:
        store.close()


def test_open_fails_with_a_store_error_when_the_database_is_unreachable(
    unreachable_url: str,
) -> None:
    with pytest.raises(StoreError) as raised:
        Store.open(unreachable_url)

    assert raised.value.__cause__ is not None


def test_two_stores_on_one_database_see_each_others_writes(database_url: str) -> None:
    with Store.open(database_url) as first, Store.open(database_url) as second:
        first.journal.record_many([entry(1)])
        assert second.journal.record_many([entry(1), entry(2)]) == 1

        assert first.journal.entries() == [entry(1), entry(2)]
        assert second.journal.count() == 2
