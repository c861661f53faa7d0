"""Erasing a person from the matcher: it decides as if the person's records were never seen."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from bench.linkage_data import World
from streams.identity import IdentityError, IdentityRecord, Matcher, Snapshot
from streams.identity.scoring import DEFAULT_FIELDS, FieldState, MatchConfig
from tests.identity.test_matcher import NHS_A, NHS_B, SECRET, background, person

#: A block cap small enough that common keys (the neighbours' postcode) overflow it.
SMALL_BLOCKS = MatchConfig(block_cap=3)

#: People of one postcode: more than ``SMALL_BLOCKS`` lets a block hold.
NEIGHBOURS = [
    ("Olusegun", "Adeyemi"),
    ("Bronwen", "Pritchard"),
    ("Krzysztof", "Wozniak"),
    ("Siobhan", "Gallagher"),
    ("Tariq", "Mahmood"),
]


def earlier() -> Iterator[IdentityRecord]:
    """A population, then people seen by several agencies, moving, sharing homes and NHS
    numbers, and one in the grey band."""
    yield from background()
    yield person("council", "c1", nhs=NHS_A)
    yield person("gp", "g1", given="Peggy", born="07/03/1948")
    yield person("council", "c1", nhs=NHS_A, address="3 Park Avenue, York", postcode="YO1 7HH")
    yield person("nhs", "n1", given="M", born=None, address=None)
    yield person("council", "c2", given="David", born="1946-11-20")
    rahman = ("Aisha", "Rahman", "1990-05-05", "22 Hyde Park Road, Leeds", "LS6 1AA")
    yield person("police", "x1", *rahman)
    yield person("charity", "y1", "Aisha", "Rahman", "05/05/1990", None, "LS6 1AA")
    yield person("police", "x1", *rahman, nhs=NHS_B)
    yield person("housing", "h3", "Ayesha", "Rahman", "1990-05-05", None, "LS6 1AA")
    for number, (given, family) in enumerate(NEIGHBOURS):
        address = f"{number + 1} Chapel Street, Leeds"
        yield person(
            "council", f"nb{number}", given, family, f"197{number}-02-1{number}", address, "LS7 3QQ"
        )


def later() -> Iterator[IdentityRecord]:
    """Records after the erasure: the erased people again, their relatives, and others."""
    yield person("council", "c1")
    yield person("hospice", "z1", given="Peggy")
    yield person("gp", "g2", given="M", nhs=NHS_A)
    yield person("police", "x1", "Aisha", "Rahman", "1990-05-05", None, "LS6 1AA")
    yield person("dwp", "d1", "A", "Rahman", None, None, None, nhs=NHS_B)
    yield person("dwp", "d2", "Kwame", "Mensah", "1985-09-09", None, "LS7 3QQ")
    for number, someone in enumerate(World(seed=3).people(40)):
        yield IdentityRecord(
            "gp",
            f"g{number + 10}",
            someone.given,
            someone.family,
            someone.birth.strftime("%d/%m/%Y"),
            None,
            someone.postcode,
        )
    for number, someone in enumerate(World(seed=4).people(20)):
        yield IdentityRecord(
            "dwp", f"d{number + 10}", someone.given, someone.family, someone.birth.isoformat()
        )
    for number in range(5):
        yield person("police", f"s{number}", "Jim", "Smith", f"19{50 + number}-06-01")


def resolved(config: MatchConfig | None = None) -> Matcher:
    matcher = Matcher(SECRET, config)
    for record in earlier():
        matcher.resolve(record)
    return matcher


def restored_without(snapshot: Snapshot, key: str, config: MatchConfig | None) -> Matcher:
    """A fresh matcher restored from ``snapshot`` without ``key``'s records, ``key`` retired."""
    matcher = Matcher(SECRET, config)
    matcher.restore(
        Snapshot(
            tuple(o for o in snapshot.observations if o.person_key != key),
            tuple(sorted({*snapshot.retired_keys, key})),
            snapshot.learned,
        )
    )
    return matcher


@pytest.mark.parametrize("config", [None, SMALL_BLOCKS], ids=["default", "small-blocks"])
@pytest.mark.parametrize(
    "link",
    [("council", "c1"), ("police", "x1"), ("nhs", "n1"), ("housing", "h7"), ("council", "nb0")],
)
@pytest.mark.parametrize("merged", [False, True], ids=["", "after-a-merge"])
def test_forgetting_leaves_the_matcher_a_restore_without_the_person_gives(
    config: MatchConfig | None, link: tuple[str, str], merged: bool
) -> None:
    matcher = resolved(config)
    if merged:
        review = matcher.person_key(("nhs", "n1"))
        keep = matcher.person_key(("council", "c1"))
        assert review is not None
        assert keep is not None
        assert review != keep
        matcher.merge(keep, review)
    key = matcher.person_key(link)
    assert key is not None
    before = matcher.snapshot()
    expected = restored_without(before, key, config)

    links = matcher.forget(key)

    assert links == tuple(
        dict.fromkeys(o.record.link for o in before.observations if o.person_key == key)
    )
    assert matcher.snapshot() == expected.snapshot()
    assert [matcher.resolve(record) for record in later()] == [
        expected.resolve(record) for record in later()
    ]


def test_forget_returns_the_links_and_retires_the_key() -> None:
    matcher = resolved()
    key = matcher.person_key(("council", "c1"))
    assert key is not None
    persons = len(matcher)

    assert matcher.forget(key) == (("council", "c1"), ("gp", "g1"))

    assert len(matcher) == persons - 1
    assert matcher.person_key(("council", "c1")) is None
    assert matcher.person_key(("gp", "g1")) is None
    assert key in matcher.snapshot().retired_keys
    again = matcher.resolve(person("council", "c1"))
    assert again.outcome != "known"  # a new person (a grey-band one: "nhs" "n1" looks alike)
    assert again.person_key != key
    with pytest.raises(IdentityError):
        matcher.forget(key)
    with pytest.raises(IdentityError):
        matcher.links(key)


def test_no_value_of_the_forgotten_person_is_counted() -> None:
    matcher = Matcher(SECRET)
    key = matcher.resolve(
        person("council", "c1", given="Zebedee", family="Quillfeather")
    ).person_key
    matcher.resolve(person("police", "x1", "Aisha", "Rahman", "1990-05-05", None, "LS6 1AA"))
    matcher.forget(key)
    fresh = Matcher(SECRET)
    fresh.resolve(person("police", "x1", "Aisha", "Rahman", "1990-05-05", None, "LS6 1AA"))
    for name, state in matcher._scorer.states.items():
        other = fresh._scorer.states[name]
        assert (state.values, state.total, state.pairs, state.u) == (
            other.values,
            other.total,
            other.pairs,
            other.u,
        )
    assert "zebedee" not in str(matcher._scorer.given.values).lower()


def test_an_nhs_number_the_erased_person_held_passes_to_another_carrying_it() -> None:
    matcher = Matcher(SECRET)
    first = matcher.resolve(person("council", "c1", nhs=NHS_A)).person_key
    rahman = ("Aisha", "Rahman", "1990-05-05", "22 Hyde Park Road, Leeds", "LS6 1AA")
    other = matcher.resolve(person("police", "x1", *rahman)).person_key
    # A known link brings a number another person already holds: both carry it now.
    matcher.resolve(person("police", "x1", *rahman, nhs=NHS_A))

    matcher.forget(first)

    newcomer = matcher.resolve(person("gp", "g9", "A", "Rahman", None, None, None, nhs=NHS_A))
    assert (newcomer.outcome, newcomer.person_key) == ("linked", other)


def test_counts_taken_back_leave_the_state_of_values_never_seen() -> None:
    # 0.0021 * 1000 / 1000 is not 0.0021 in floating point: no record left must mean the prior.
    model = replace(DEFAULT_FIELDS.postcode, u=(0.0021, 1e-4, 0.01, 0.99))
    config = MatchConfig()
    taken, fresh = (FieldState(model, config, measured=True) for _ in range(2))
    fresh.count("LS7 3QQ")
    for value in ("LS6 2AB", "LS6 2AB", "LS7 3QQ", "LS6 2AB"):
        taken.count(value)
    taken.count("LS6 2AB", -3)
    assert (taken.values, taken.total, taken.pairs, taken.u, taken.weights) == (
        fresh.values,
        fresh.total,
        fresh.pairs,
        fresh.u,
        fresh.weights,
    )
    taken.count("LS7 3QQ", -1)
    empty = FieldState(model, config, measured=True)
    assert (taken.values, taken.total, taken.pairs, taken.u, taken.weights) == (
        {},
        0,
        0,
        empty.u,
        empty.weights,
    )
    with pytest.raises(ValueError, match="take back"):
        taken.count("LS7 3QQ", -1)
