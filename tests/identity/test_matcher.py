"""The streaming matcher: what links, what must not, reviews, re-keying and snapshots."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bench.linkage_data import World
from streams.identity import IdentityError, IdentityRecord, Matcher, Snapshot
from streams.identity.keys import PersonKeys

SECRET = b"a test secret of thirty-two bytes"
#: A valid NHS number, and another.
NHS_A, NHS_B = "9434765919", "4010232137"


def person(
    agency: str,
    local_id: str,
    given: str | None = "Margaret",
    family: str | None = "Okonkwo",
    born: str | None = "1948-03-07",
    address: str | None = "14 Elm Road, Leeds",
    postcode: str | None = "LS6 2AB",
    nhs: str | None = None,
) -> IdentityRecord:
    return IdentityRecord(agency, local_id, given, family, born, address, postcode, nhs)


def background() -> Iterator[IdentityRecord]:
    """A few hundred people, so that names have realistic frequencies; common names too."""
    for number, someone in enumerate(World(seed=3).people(300)):
        yield IdentityRecord(
            "housing",
            f"h{number}",
            someone.given,
            someone.family,
            someone.birth.isoformat(),
            f"{someone.street}, {someone.city}",
            someone.postcode,
        )
    for number in range(20):
        yield person(
            "housing",
            f"smith{number}",
            "James",
            "Smith",
            f"19{50 + number}-06-01",
            f"{number} Mill Road",
            f"M{number} 1AA",
        )


@pytest.fixture
def matcher() -> Matcher:
    """A matcher that has seen a background population."""
    filled = Matcher(SECRET)
    for record in background():
        filled.resolve(record)
    return filled


def test_the_first_record_starts_a_person(matcher: Matcher) -> None:
    resolution = matcher.resolve(person("council", "c1"))
    assert resolution.outcome == "new"
    assert matcher.person_key(("council", "c1")) == resolution.person_key


@pytest.mark.parametrize(
    "variant",
    [
        person("nhs", "n1", given="Margaert"),
        person("nhs", "n1", family="Okonkow"),
        person("nhs", "n1", given="Peggy"),
        person("nhs", "n1", born="07/03/1948"),
        person("nhs", "n1", born="1948-07-03"),
        person("nhs", "n1", born="7 March 1948"),
        person("nhs", "n1", address="3 Park Avenue, York", postcode="YO1 7HH"),
        person("nhs", "n1", address=None, postcode=None),
        person("nhs", "n1", born=None),
        person("nhs", "n1", given="OKONKWO", family="margaret"),
        person("nhs", "n1", given="Margaret Ann", family="OKONKWO", postcode="ls62ab"),
    ],
    ids=[
        "typo in given name",
        "typo in family name",
        "nickname",
        "another date format",
        "day and month swapped",
        "month written out",
        "moved",
        "no address or postcode",
        "no birth date",
        "given and family swapped",
        "middle name and case",
    ],
)
def test_tolerances_link(matcher: Matcher, variant: IdentityRecord) -> None:
    first = matcher.resolve(person("council", "c1"))
    resolution = matcher.resolve(variant)
    assert resolution.outcome == "linked"
    assert resolution.person_key == first.person_key


def test_particle_names_link(matcher: Matcher) -> None:
    first = matcher.resolve(person("council", "c1", given="Pieter", family="van der Berg"))
    again = matcher.resolve(person("nhs", "n1", given="Pieter", family="Berg"))
    assert again.person_key == first.person_key


@pytest.mark.parametrize(
    "other",
    [
        person("nhs", "n1", given="Chidi"),
        person("nhs", "n1", born="1979-11-30"),
        person("nhs", "n1", given="Olusegun", born="1951-01-12"),
    ],
    ids=["twin", "daughter of the same name", "spouse"],
)
def test_housemates_do_not_link(matcher: Matcher, other: IdentityRecord) -> None:
    first = matcher.resolve(person("council", "c1"))
    resolution = matcher.resolve(other)
    assert resolution.outcome != "linked"
    assert resolution.person_key != first.person_key


def test_a_common_name_in_the_same_birth_year_does_not_link(matcher: Matcher) -> None:
    first = matcher.resolve(
        person("council", "c1", "James", "Smith", "1980-05-01", "2 Station Road, Hull", "HU1 1AA")
    )
    other = matcher.resolve(
        person("nhs", "n1", "James", "Smith", "1980-11-23", "9 Church Lane, Derby", "DE1 2BB")
    )
    assert other.outcome != "linked"
    assert other.person_key != first.person_key


def test_a_known_link_keeps_its_person_without_matching(matcher: Matcher) -> None:
    first = matcher.resolve(person("council", "c1"))
    moved = matcher.resolve(person("council", "c1", given="Someone", family="Else"))
    assert moved.outcome == "known"
    assert moved.person_key == first.person_key
    assert moved.candidates == ()


def test_what_a_known_link_brings_is_learnt(matcher: Matcher) -> None:
    first = matcher.resolve(person("council", "c1"))
    matcher.resolve(person("council", "c1", address="3 Park Avenue, York", postcode="YO1 7HH"))
    later = matcher.resolve(
        person("nhs", "n1", born=None, address="3 Park Avenue", postcode="YO1 7HH")
    )
    assert later.outcome == "linked"
    assert later.person_key == first.person_key


def test_a_valid_nhs_number_links_whatever_else_differs(matcher: Matcher) -> None:
    first = matcher.resolve(person("gp", "g1", nhs=NHS_A))
    other = matcher.resolve(
        person("nhs", "n1", "Maggie", "Smith", "1950-01-01", "Elsewhere 1", "X1 1XX", NHS_A)
    )
    assert other.outcome == "linked"
    assert other.person_key == first.person_key


def test_two_valid_nhs_numbers_are_two_people(matcher: Matcher) -> None:
    first = matcher.resolve(person("gp", "g1", nhs=NHS_A))
    other = matcher.resolve(person("nhs", "n1", nhs=NHS_B))
    assert other.person_key != first.person_key


def test_an_invalid_nhs_number_is_only_evidence(matcher: Matcher) -> None:
    first = matcher.resolve(person("gp", "g1", nhs="9434765918"))
    other = matcher.resolve(
        person("nhs", "n1", "Zed", "Quinn", "1990-01-01", "1 Far Away", "Z1 1ZZ", "9434765918")
    )
    assert other.person_key != first.person_key


def test_the_grey_band_goes_to_review(matcher: Matcher) -> None:
    first = matcher.resolve(person("council", "c1"))
    review = matcher.resolve(person("nhs", "n1", given="M", born=None, address=None))
    assert review.outcome == "review"
    assert review.person_key != first.person_key
    assert [candidate.person_key for candidate in review.candidates] == [first.person_key]
    assert review.score is not None
    assert review.score == review.candidates[0].score


def test_a_merge_rekeys_the_merged_person(matcher: Matcher) -> None:
    first = matcher.resolve(person("council", "c1"))
    review = matcher.resolve(person("nhs", "n1", given="M", born=None, address=None))
    rekey = matcher.merge(first.person_key, review.person_key)
    assert (rekey.old_key, rekey.new_key, rekey.links) == (
        review.person_key,
        first.person_key,
        (("nhs", "n1"),),
    )
    assert matcher.person_key(("nhs", "n1")) == first.person_key
    assert matcher.links(first.person_key) == (("council", "c1"), ("nhs", "n1"))
    with pytest.raises(IdentityError):
        matcher.merge(first.person_key, review.person_key)
    with pytest.raises(IdentityError):
        matcher.merge(first.person_key, first.person_key)


def test_a_split_moves_links_to_a_new_person(matcher: Matcher) -> None:
    first = matcher.resolve(person("council", "c1"))
    matcher.resolve(person("nhs", "n1"))
    matcher.resolve(person("gp", "g1"))
    rekey = matcher.split(first.person_key, [("gp", "g1")])
    assert rekey.old_key == first.person_key
    assert rekey.links == (("gp", "g1"),)
    assert matcher.person_key(("gp", "g1")) == rekey.new_key != first.person_key
    assert matcher.links(first.person_key) == (("council", "c1"), ("nhs", "n1"))
    assert matcher.resolve(person("gp", "g1")).person_key == rekey.new_key
    with pytest.raises(IdentityError):
        matcher.split(first.person_key, [("council", "c1"), ("nhs", "n1")])
    with pytest.raises(IdentityError):
        matcher.split(first.person_key, [("gp", "g1")])


def test_a_merged_key_is_never_handed_out_again(matcher: Matcher) -> None:
    first = matcher.resolve(person("council", "c1"))
    review = matcher.resolve(person("nhs", "n1", given="M", born=None, address=None))
    matcher.merge(first.person_key, review.person_key)
    rekey = matcher.split(first.person_key, [("nhs", "n1")])
    assert rekey.new_key not in {first.person_key, review.person_key}


def _records() -> list[IdentityRecord]:
    return [*background(), *(person("nhs", f"n{number}") for number in range(3))]


def test_the_same_records_in_the_same_order_give_the_same_keys() -> None:
    runs = []
    for _ in range(2):
        matcher = Matcher(SECRET)
        runs.append([matcher.resolve(record).person_key for record in _records()])
    assert runs[0] == runs[1]


def test_a_snapshot_rebuilds_the_same_matcher() -> None:
    records = _records()
    original = Matcher(SECRET)
    for record in records[:200]:
        original.resolve(record)
    snapshot = original.snapshot()
    assert isinstance(snapshot, Snapshot)
    rebuilt = Matcher(SECRET)
    rebuilt.restore(snapshot)
    assert rebuilt.snapshot() == snapshot
    later = records[200:]
    assert [rebuilt.resolve(record) for record in later] == [
        original.resolve(record) for record in later
    ]
    with pytest.raises(IdentityError):
        rebuilt.restore(snapshot)


def test_person_keys_reveal_no_identifier(matcher: Matcher) -> None:
    record = person("council", "c1", nhs=NHS_A)
    key = matcher.resolve(record).person_key
    assert re.fullmatch(r"p[0-9a-f]{32}", key)
    for value in (*record, "okonkwo", "margaret", "19480307", "ls62ab"):
        assert value is None or value.lower() not in key
    assert PersonKeys(SECRET).derive(("council", "c1")) == key
    assert PersonKeys(b"another secret, thirty-two bytes").derive(("council", "c1")) != key


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(IdentityError):
        Matcher(b"short")


def test_a_resolution_says_whether_the_record_was_new_to_the_matcher() -> None:
    matcher = Matcher(b"a test secret of thirty-two bytes!")
    first = IdentityRecord("council", "c1", "Ada", "Lovelace", "1815-12-10", "1 St James Sq", None)
    assert matcher.resolve(first).observed
    assert not matcher.resolve(first).observed  # known, nothing new
    moved = first._replace(address="12 Marylebone Rd")
    again = matcher.resolve(moved)
    assert (again.outcome, again.observed) == ("known", True)
