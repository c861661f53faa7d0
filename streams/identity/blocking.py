"""Blocking: the few persons worth scoring against a record, found through shared keys.

Each key survives a different corruption, so that a record whose name is misspelt, whose
date is wrong, whose family name changed on marriage or who has moved still shares at least
one key with the person it belongs to:

- ``d``: birth date with day and month unordered (survives swaps and every name change);
- ``f``: family name without particles, with the given initial, or the birth year when
  there is no given name (survives date errors);
- ``g``: each full name the given name may stand for, with the birth year (survives
  nicknames and marriage);
- ``s``: the Soundex codes of given and family name, unordered (survives typos after the
  first letter and given and family names written the other way round);
- ``p``: postcode, and ``a``: house number with the street's name (survive every name
  and date error, as long as the person has not moved);
- ``i``: an identifier that is not a valid NHS number, exactly.

A key shared by more than ``cap`` persons ("smith|j" in a large caseload) is too common to
tell anyone apart; it is no longer grown nor read, and the other keys find the person.
Candidates are counted in a plain dictionary: a record shares about eight block entries on
100,000 records, too few for ``Counter``'s set-up to pay off; the cost is the look-ups
themselves, which is why there are only seven kinds of key.
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.identity.records import Features

#: The prefix of the address key: a home, for counting the people who share one.
HOME_KEY = "a"
#: Default largest block read; beyond it a key is considered uninformative.
DEFAULT_CAP = 64


def blocking_keys(features: Features) -> list[str]:
    """The blocking keys of a record, without duplicates, in a fixed order."""
    given, family, dates = features.given, features.family, features.dates
    keys = [f"d{_unordered(date)}" for date in dates]
    years = sorted({date // 10000 for date in dates})
    if family:
        if given:
            keys.append(f"f{family.core}|{given.first[0]}")
        keys.extend([f"f{family.core}|{year}" for year in years])
    if given:
        keys.extend([f"g{group}|{year}" for group in given.group_keys for year in years])
        if family:
            low, high = sorted((given.sound, family.sound))
            keys.append(f"s{low}|{high}")
    if features.postcode:
        keys.append(f"p{features.postcode}")
    if features.address and features.address.key:
        keys.append(f"{HOME_KEY}{features.address.key}")
    if features.other_id:
        keys.append(f"i{features.other_id}")
    return list(dict.fromkeys(keys))


def _unordered(date: int) -> int:
    """``yyyymmdd`` with day and month in ascending order: a swap gives the same key."""
    month, day = divmod(date % 10000, 100)
    return date - date % 10000 + (month * 100 + day if month <= day else day * 100 + month)


class BlockIndex:
    """Blocking key → the persons (by internal id) that have it, in the order they got it."""

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self.cap = cap
        self._blocks: dict[str, list[int]] = {}

    def candidates(self, keys: Iterable[str]) -> dict[int, int]:
        """Each person sharing a key of an informative block, with how many keys it shares."""
        get, cap = self._blocks.get, self.cap
        shared: dict[int, int] = {}
        count = shared.get
        for key in keys:
            block = get(key)
            if block is not None and len(block) <= cap:
                for person in block:
                    shared[person] = count(person, 0) + 1
        return shared

    def add(self, keys: Iterable[str], person: int) -> None:
        """Record that ``person`` has ``keys`` (a block past the cap stops growing)."""
        blocks, cap = self._blocks, self.cap
        for key in keys:
            block = blocks.get(key)
            if block is None:
                blocks[key] = [person]
            elif len(block) <= cap and person not in block:
                block.append(person)

    def remove(self, keys: Iterable[str], person: int) -> None:
        """Forget ``person`` under ``keys`` (a merge or a split re-adds what still holds)."""
        for key in keys:
            block = self._blocks.get(key)
            if block is not None and person in block:
                block.remove(person)
