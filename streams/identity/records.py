"""What an agency says about a person, and its comparable form computed once per record."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from streams.identity import nhs
from streams.identity.names import FamilyName, GivenName, NameForms, name_forms
from streams.identity.normalise import address, parse_date, postcode

Link = tuple[str, str]
"""An agency's own id for a person: ``(agency, local_id)``."""


class IdentityRecord(NamedTuple):
    """A person as one agency knows them (the identifying part of ``PersonRef``).

    Every field but the agency and its local id may be missing or malformed; the matcher
    makes do with what is there.
    """

    agency: str
    local_id: str
    given_name: str | None = None
    family_name: str | None = None
    birth_date: str | None = None
    address: str | None = None
    postcode: str | None = None
    nhs_number: str | None = None

    @property
    def link(self) -> Link:
        """The ``(agency, local_id)`` pair this record is about."""
        return (self.agency, self.local_id)


#: Words that name a kind of street or dwelling rather than a street, in the agencies'
#: languages: "12 rue Victor Hugo" and "12 rue de la Paix" must not share a blocking key.
#: One language per line reads better than a list of a hundred strings.
STREET_WORDS = frozenset(
    """
    street road avenue lane drive court square crescent place boulevard close way flat
    apartment studio suite house terrace gardens grove hill park view mews row walk
    strasse str weg platz allee gasse ring damm chaussee
    rue chemin impasse quai cours route
    calle avenida paseo plaza camino carretera ronda travesia callejon piso puerta
    via viale piazza corso largo vicolo strada contrada appartamento piano
    straat laan plein kade singel dreef pad hof steeg
    ulica aleja plac osiedle
    rua travessa praca alameda rodovia vila
    """.split()  # noqa: SIM905 - see the comment above
)


class Address(NamedTuple):
    """A folded address, with its house numbers ("12", "92t") apart: neighbours share all
    but those."""

    text: str
    numbers: frozenset[str]
    #: The first house number and the first word of three letters or more that is not a
    #: kind of street, for blocking ("" without a number: a street alone is too common a
    #: key). Both come before the town, which some records of an address leave out.
    key: str


class Features(NamedTuple):
    """A record's fields folded for comparison; empty or ``None`` when missing.

    ``nhs`` holds a valid NHS number only; anything else written in that field (a foreign
    or mistyped id) is kept in ``other_id`` as ordinary probabilistic evidence.
    """

    given: GivenName | None
    family: FamilyName | None
    #: The names read the other way round, for records that swap given and family name.
    given_as_family: FamilyName | None
    family_as_given: GivenName | None
    dates: tuple[int, ...]
    postcode: str
    address: Address | None
    nhs: str
    other_id: str


@lru_cache(maxsize=1 << 16)
def _address(text: str) -> Address | None:
    folded = address(text)
    if not folded:
        return None
    split = folded.split()
    numbers = [word for word in split if not word.isalpha()]
    street = next(
        (word for word in split if word.isalpha() and len(word) > 2 and word not in STREET_WORDS),
        "",
    )
    key = f"{numbers[0]}|{street}" if numbers else ""
    return Address(folded, frozenset(numbers), key)


_NO_NAME = NameForms(None, None)
_postcode = lru_cache(maxsize=1 << 16)(postcode)


def features(record: IdentityRecord) -> Features:
    """The comparable form of a record (each part cached per distinct spelling)."""
    given = name_forms(record.given_name) if record.given_name else _NO_NAME
    family = name_forms(record.family_name) if record.family_name else _NO_NAME
    number = nhs.normalise(record.nhs_number) if record.nhs_number else ""
    valid = bool(number) and nhs.is_valid(number)
    return Features(
        given.given,
        family.family,
        given.family,
        family.given,
        parse_date(record.birth_date) if record.birth_date else (),
        _postcode(record.postcode) if record.postcode else "",
        _address(record.address) if record.address else None,
        number if valid else "",
        "" if valid else number,
    )
