"""Agreement levels: how closely a record's value agrees with any of a person's values.

Each function returns the best level over the person's values, 0 being exact and the
highest disagreement, as listed in each field's :class:`~streams.identity.scoring.FieldModel`.
The thresholds are the usual ones for Jaro-Winkler on names (0.92 close, 0.80 distant) and
for token-set ratios on addresses, where word order and omitted words vary by writer.
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.fuzz import token_set_ratio

from streams.identity.names import FamilyName, GivenName
from streams.identity.records import Address, Features

_JW = JaroWinkler.normalized_similarity
_OSA = OSA.distance


class Profile:
    """Every distinct comparable value a person's records carry, per field.

    A record is compared with the best value of each field: a person who moved still agrees
    with records that have the old address, and one whose name one agency misspells still
    agrees with the others on the right spelling.
    """

    __slots__ = ("addresses", "dates", "families", "givens", "nhs", "other_ids", "postcodes")

    def __init__(self) -> None:
        self.givens: list[GivenName] = []
        self.families: list[FamilyName] = []
        self.dates: set[int] = set()
        self.postcodes: list[str] = []
        self.addresses: list[Address] = []
        self.other_ids: list[str] = []
        self.nhs: set[str] = set()

    def add(self, features: Features, cap: int) -> None:
        """Take in a record's values (at most ``cap`` per field: the first ones stay).

        Written out field by field: it runs once per record, and calls cost.
        """
        given, family, postcode, address, other = (
            features.given,
            features.family,
            features.postcode,
            features.address,
            features.other_id,
        )
        if given and given not in self.givens and len(self.givens) < cap:
            self.givens.append(given)
        if family and family not in self.families and len(self.families) < cap:
            self.families.append(family)
        self.dates.update(features.dates)
        if postcode and postcode not in self.postcodes and len(self.postcodes) < cap:
            self.postcodes.append(postcode)
        if other and other not in self.other_ids and len(self.other_ids) < cap:
            self.other_ids.append(other)
        if features.nhs:
            self.nhs.add(features.nhs)
        if address and address not in self.addresses and len(self.addresses) < cap:
            self.addresses.append(address)


Levels = tuple[int, int, int, int, int, int, bool]
"""Given name, family name, birth date, postcode, address and other id levels (-1 where
either side lacks the field), and whether the names agree only the other way round."""


def compare(record: Features, person: Profile) -> Levels:
    """The agreement level of every field of ``record`` with ``person``."""
    given, family = record.given, record.family
    given_at = given_level(given, person.givens) if given and person.givens else -1
    family_at = family_level(family, person.families) if family and person.families else -1
    crossed = False
    if given_at >= 3 and family_at >= 2 and record.family_as_given and record.given_as_family:
        swapped_given = given_level(record.family_as_given, person.givens)
        swapped_family = family_level(record.given_as_family, person.families)
        if swapped_given + swapped_family < given_at + family_at - 1:
            given_at, family_at, crossed = swapped_given, swapped_family, True
    return (
        given_at,
        family_at,
        date_level(record.dates, person.dates) if record.dates and person.dates else -1,
        postcode_level(record.postcode, person.postcodes)
        if record.postcode and person.postcodes
        else -1,
        address_level(record.address, person.addresses)
        if record.address and person.addresses
        else -1,
        id_level(record.other_id, person.other_ids) if record.other_id and person.other_ids else -1,
        crossed,
    )


def given_level(name: GivenName, others: Iterable[GivenName]) -> int:
    """0 exact, 1 nickname, 2 close, 3 distant, an initial or one edit apart, 4 different.

    One edit turns a short name into another ("Jan", "Jon") as often as it misspells it
    ("Amy", "Nmy"), which Jaro-Winkler scores low: it is weak evidence, not disagreement.
    """
    best = 4
    for other in others:
        if name.first == other.first or name.full == other.full:
            return 0
        if not name.groups.isdisjoint(other.groups):
            best = 1
            continue
        similarity = _JW(name.full, other.full)
        if similarity >= 0.92:
            best = min(best, 2)
        elif (
            similarity >= 0.80
            or ((len(name.first) == 1 or len(other.first) == 1) and name.first[0] == other.first[0])
            or _OSA(name.first, other.first, score_cutoff=1) <= 1
        ):
            best = min(best, 3)
    return best


def family_level(name: FamilyName, others: Iterable[FamilyName]) -> int:
    """0 exact, 1 close or one of a double surname, 2 distant, 3 different."""
    best = 3
    for other in others:
        if name.core == other.core or name.full == other.full:
            return 0
        similarity = _JW(name.core, other.core)
        if similarity >= 0.92 or not name.words.isdisjoint(other.words):
            best = 1
        elif similarity >= 0.80:
            best = min(best, 2)
    return best


def date_level(dates: tuple[int, ...], others: set[int]) -> int:
    """0 exact, 1 day and month swapped, 2 one digit off or year +-1, 3 same year, 4 else.

    Year +-1 allows a day either way: a year added or taken off as days moves the day
    across a 29 February.
    """
    if not others.isdisjoint(dates):
        return 0
    best = 4
    for date in dates:
        year, rest = divmod(date, 10000)
        month, day = divmod(rest, 100)
        if year * 10000 + day * 100 + month in others:
            return 1
        for other in others:
            other_year, other_rest = divmod(other, 10000)
            if (abs(other_rest - rest) <= 1 and abs(other_year - year) <= 1) or _OSA(
                str(date), str(other)
            ) <= 1:
                best = 2
            elif other_year == year:
                best = min(best, 3)
    return best


def postcode_level(code: str, others: Iterable[str]) -> int:
    """0 exact, 1 one character off, 2 same first half, 3 different."""
    best = 3
    for other in others:
        if code == other:
            return 0
        if _OSA(code, other) <= 1 and len(code) >= 4:
            best = 1
        elif len(code) >= 4 and code[: (len(code) + 1) // 2] == other[: (len(code) + 1) // 2]:
            best = min(best, 2)
    return best


def address_level(address: Address, others: Iterable[Address]) -> int:
    """0 the same, 1 close, 2 distant or the same street at another number, 3 different."""
    best = 3
    for other in others:
        if address.text == other.text:
            return 0
        ratio = token_set_ratio(address.text, other.text, score_cutoff=70)
        if not ratio:
            continue
        if address.numbers and other.numbers and address.numbers.isdisjoint(other.numbers):
            best = min(best, 2)
        elif ratio >= 95:
            return 0
        elif ratio >= 85:
            best = 1
        else:
            best = min(best, 2)
    return best


def id_level(value: str, others: Iterable[str]) -> int:
    """0 exact, 1 one character off, 2 different: a postcode's levels, without halves."""
    return min(postcode_level(value, others), 2)
