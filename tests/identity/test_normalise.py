"""Folding, names, dates, postcodes and addresses in many countries' formats."""

from __future__ import annotations

import pytest

from streams.identity import nhs
from streams.identity.names import family_name, given_name
from streams.identity.normalise import address, fold, parse_date, postcode


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Müller", "muller"),
        ("Straße", "strasse"),
        ("Łukasz", "lukasz"),
        ("Wiśniewska-Kowalczyk", "wisniewska kowalczyk"),
        ("O'Brien", "o brien"),
        ("  JOSÉ   María ", "jose maria"),
        ("Søren Ærø", "soren aero"),
    ],
)
def test_fold_removes_case_accents_and_punctuation(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_particles_are_set_apart_from_the_core_surname() -> None:
    attached, separate, bare = (
        family_name("Vanderberg"),
        family_name("van der Berg"),
        family_name("Berg"),
    )
    assert separate is not None
    assert bare is not None
    assert attached is not None
    assert separate.full == attached.full == "vanderberg"
    assert separate.core == bare.core == "berg"
    cruz = family_name("de la Cruz")
    assert cruz is not None
    assert cruz.core == "cruz"


def test_double_surnames_keep_each_name() -> None:
    name = family_name("García López")
    assert name is not None
    assert name.words == {"garcia", "lopez"}


def test_nicknames_share_a_group_with_the_full_name() -> None:
    for nickname, full in (("Bill", "William"), ("Peggy", "Margaret"), ("Sasha", "Alexander")):
        short, long = given_name(nickname), given_name(full)
        assert short is not None
        assert long is not None
        assert short.groups & long.groups, (nickname, full)


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("1980-03-04", (19800304,)),
        ("19800304", (19800304,)),
        ("13/03/1980", (19800313,)),
        ("03/13/1980", (19800313,)),
        ("4. März 1980", (19800304,)),
        ("4 mars 1980", (19800304,)),
        ("March 4, 1980", (19800304,)),
        ("1 de enero de 1990", (19900101,)),
        ("3 maja 1977", (19770503,)),
        ("1980-03-04T10:00:00+01:00", (19800304,)),
        ("31/02/1980", ()),
        ("29.2.1900", ()),
        ("unknown", ()),
    ],
)
def test_dates_in_any_format(text: str, dates: tuple[int, ...]) -> None:
    assert parse_date(text) == dates


def test_an_ambiguous_date_keeps_both_readings() -> None:
    assert set(parse_date("04/03/1980")) == {19800304, 19800403}
    assert set(parse_date("04.03.80")) >= {19800304, 19800403}


def test_postcodes_of_every_country_fold_to_one_word() -> None:
    assert postcode("SW1A 1AA") == postcode("sw1a1aa") == "sw1a1aa"
    assert postcode("01310-100") == "01310100"
    assert postcode("1012 AB") == "1012ab"
    assert postcode("00-950") == "00950"


def test_addresses_write_out_street_abbreviations() -> None:
    assert address("12 High St.") == address("12 high street") == "12 high street"
    assert address("Hauptstr. 5") == "hauptstr 5"


@pytest.mark.parametrize("number", ["9434765919", "943 476 5919", "943-476-5919"])
def test_a_valid_nhs_number(number: str) -> None:
    assert nhs.is_valid(nhs.normalise(number))


@pytest.mark.parametrize(
    "number",
    ["9434765918", "4934765919", "943476591", "94347659190", "943476591X", ""],
)
def test_invalid_nhs_numbers(number: str) -> None:
    assert not nhs.is_valid(nhs.normalise(number))


def test_nine_digits_whose_check_would_be_ten_have_no_valid_number() -> None:
    assert nhs.check_digit("100000001") is None
    assert not any(nhs.is_valid(f"100000001{digit}") for digit in range(10))
    assert nhs.check_digit("943476591") == 9
