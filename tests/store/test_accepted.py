"""The accepted-events ledger, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from uuid import UUID

from streams.store import AcceptedEntry, Store


def accepted(number: int, fingerprint: str = "f" * 64) -> AcceptedEntry:
    return AcceptedEntry(
        event_id=UUID(int=number + 1),
        kind="contact",
        agency="council",
        connector="http",
        fingerprint=fingerprint,
        topic="backbone.contacts",
        key=b"council:p1",
        payload=bytes([0, 0, 0, 0, 1, number % 256]),
    )


def test_records_and_reads_back_in_acceptance_order(store: Store) -> None:
    assert store.accepted.record_many([accepted(n) for n in range(3)]) == 3
    read = store.accepted.entries()
    assert read == [accepted(n) for n in range(3)]
    assert [entry.position for entry in read] == sorted(entry.position or 0 for entry in read)
    assert all(entry.accepted_at is not None for entry in read)


def test_an_id_keeps_its_first_record(store: Store) -> None:
    store.accepted.record_many([accepted(1)])
    assert store.accepted.record_many([accepted(1, "0" * 64), accepted(2)]) == 1
    assert store.accepted.fingerprints({UUID(int=2)}) == {UUID(int=2): "f" * 64}
    assert store.accepted.count() == 2


def test_fingerprints_of_known_ids_only_in_chunks(store: Store) -> None:
    store.accepted.record_many([accepted(n, f"{n:064d}") for n in range(1200)])
    wanted = {UUID(int=n + 1) for n in range(0, 1400, 7)}
    found = store.accepted.fingerprints(wanted)
    assert found == {UUID(int=n + 1): f"{n:064d}" for n in range(0, 1200, 7)}


def test_paging_by_position(store: Store) -> None:
    store.accepted.record_many([accepted(n) for n in range(5)])
    first = store.accepted.entries(limit=2)
    rest = store.accepted.entries(since_position=first[-1].position or 0)
    assert [e.event_id for e in first + rest] == [UUID(int=n + 1) for n in range(5)]
