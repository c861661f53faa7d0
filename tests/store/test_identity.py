"""The identity store, on SQLite and on PostgreSQL alike: the matcher's durable half."""

from __future__ import annotations

from streams.identity.matcher import Learned, Matcher, Observation
from streams.identity.records import IdentityRecord
from streams.store import Store
from streams.store.identity import IdentityStore

SECRET = b"a test secret of thirty-two bytes!"


def records() -> list[IdentityRecord]:
    return [
        IdentityRecord("council", "c1", "Margaret", "Okafor", "1941-03-09", "4 Elm Row", "LS6 2AB"),
        IdentityRecord("gp", "g7", "Peggy", "Okafor", "09/03/1941", "4 Elm Row", "LS6 2AB"),
        IdentityRecord("housing", "h2", "Tomasz", "Nowak", "1988-11-30", "12 Mill St", "LS9 8QP"),
        IdentityRecord(
            "council", "c1", "Margaret", "Okafor", "1941-03-09", "Flat 2, Oak Ct", "LS6 4CD"
        ),
    ]


def test_a_matcher_restored_from_the_store_resolves_as_the_original(store: Store) -> None:
    identities = IdentityStore(store.engine)
    original = Matcher(SECRET)
    for record in records():
        original.resolve(record)
    identities.append(original.snapshot().observations)
    identities.learn(original.snapshot().learned)

    restored = Matcher(SECRET)
    restored.restore(identities.snapshot())
    assert restored.snapshot() == original.snapshot()
    newcomer = IdentityRecord("foodbank", "f3", "Peggy", "Okafor", "1941-03-09", None, "LS6 4CD")
    assert restored.resolve(newcomer) == original.resolve(newcomer)


def test_appends_are_idempotent(store: Store) -> None:
    identities = IdentityStore(store.engine)
    matcher = Matcher(SECRET)
    for record in records():
        matcher.resolve(record)
    observations = matcher.snapshot().observations
    assert identities.append(observations) == len(observations)
    assert identities.append(observations) == 0
    assert identities.snapshot().observations == observations


def test_records_of_one_person_in_the_order_seen(store: Store) -> None:
    identities = IdentityStore(store.engine)
    margaret, peggy, tomasz, moved = records()
    identities.append(
        [Observation("p1", margaret), Observation("p2", tomasz), Observation("p1", moved)]
    )
    identities.append([Observation("p1", peggy)])
    assert identities.records("p1") == [margaret, moved, peggy]
    assert identities.records("p2") == [tomasz]
    assert identities.records("nobody") == []


def test_reviews_open_and_settle(store: Store) -> None:
    identities = IdentityStore(store.engine)
    identities.add_review("p2", [("p1", 4.25), ("p9", 2.0)])
    identities.add_review("p2", [("p1", 4.25)])  # a replay queues nothing twice
    (review,) = identities.reviews()
    assert review.candidates == (("p1", 4.25), ("p9", 2.0))
    assert identities.settle("p2", "merged", "into p1")
    assert not identities.settle("p2", "kept", "again")
    assert identities.reviews() == []
    assert [r.status for r in identities.reviews(status=None)] == ["merged"]


def test_learnt_counts_are_replaced_by_the_latest(store: Store) -> None:
    identities = IdentityStore(store.engine)
    identities.learn([Learned("family_name", (1, 2, 3))])
    identities.learn([Learned("family_name", (2, 4, 6))])
    assert identities.snapshot().learned == (Learned("family_name", (2, 4, 6)),)
