"""Labelled person-linkage sets: synthetic people in nine countries' formats, with true ids.

    python -m bench.linkage_data OUT_DIR [--records 20000] [--seed 7]

writes, for each of the three sets below, ``NAME.csv`` (the input of ``backbone identity
resolve``) and ``NAME.labels.csv`` (``record_id, entity_id``):

- ``link``: a one-to-one linkage, every person once in each of two agencies;
- ``dedup``: one agency's caseload, with groups of 1 to 6 records of one person;
- ``hard``: 3 to 5 agencies with heavy corruption (marriage, moves, wrong or missing dates,
  given and family names swapped), where blocking on names and dates alone loses about a
  tenth of the true pairs.

People are drawn with Faker in nine locales (names, addresses and postcodes in their own
formats) and live in households: spouses, children, twins (one birthday, two names), and a
parent and child of one name. Records are corrupted as agencies corrupt them: typos
(insert, delete, substitute, transpose), nicknames, initials, dropped accents, swapped day
and month, mistyped or wrong dates, moves, missing fields, and a valid NHS number for most
people in England (some missing, a few mistyped). The same seed gives the same files.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from faker import Faker
from nicknames import NickNamer

from streams.identity.records import IdentityRecord

LOCALES = ("en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "en_US")
#: The input columns of ``backbone identity resolve``.
COLUMNS = ("record_id", *IdentityRecord._fields)
#: Familiar forms in the other locales (the ``nicknames`` package covers English ones).
NICKNAMES = {
    "alexander": ("Sasha", "Sascha"),
    "aleksander": ("Olek",),
    "francisco": ("Paco", "Pancho", "Curro"),
    "josé": ("Pepe",),
    "ignacio": ("Nacho",),
    "dolores": ("Lola",),
    "manuel": ("Manolo",),
    "giuseppe": ("Beppe", "Peppe"),
    "giovanni": ("Gianni",),
    "vincenzo": ("Enzo",),
    "johannes": ("Hans", "Jan"),
    "friedrich": ("Fritz",),
    "heinrich": ("Heinz",),
    "katarzyna": ("Kasia",),
    "małgorzata": ("Gosia",),
    "wojciech": ("Wojtek",),
    "tomasz": ("Tomek",),
    "cornelis": ("Kees",),
    "hendrik": ("Henk",),
    "antônio": ("Toninho",),
}
_ABBREVIATIONS = {
    "Street": "St",
    "Road": "Rd",
    "Avenue": "Ave",
    "Lane": "Ln",
    "Drive": "Dr",
    "Straße": "Str.",
    "strasse": "str.",
    "Rua": "R.",
    "Avenida": "Av.",
    "Calle": "C/",
    "ulica": "ul.",
    "Via": "V.",
}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DATE_FORMATS = ("iso", "dmy", "mdy", "dotted", "compact", "written")


@dataclass(frozen=True, slots=True)
class Person:
    """A true entity: what every record of this person would say without errors."""

    entity_id: str
    locale: str
    sex: str
    given: str
    family: str
    birth: dt.date
    street: str
    city: str
    postcode: str
    nhs: str


@dataclass(frozen=True, slots=True)
class Noise:
    """Per-record probabilities of each corruption (per field where it says so)."""

    typo: float = 0.08
    second_typo: float = 0.02
    nickname: float = 0.04
    initial: float = 0.01
    accents: float = 0.10
    missing: float = 0.04
    swapped_date: float = 0.03
    date_typo: float = 0.04
    wrong_date: float = 0.01
    moved: float = 0.10
    married: float = 0.0
    transposed: float = 0.0
    address_variant: float = 0.3
    nhs_present: float = 0.7
    nhs_typo: float = 0.02


LIGHT = Noise(typo=0.05, second_typo=0.01, nickname=0.03, missing=0.03, moved=0.08)
MEDIUM = Noise()
HEAVY = Noise(
    typo=0.04,
    second_typo=0.01,
    nickname=0.04,
    initial=0.01,
    accents=0.2,
    missing=0.04,
    swapped_date=0.04,
    date_typo=0.03,
    wrong_date=0.02,
    moved=0.3,
    married=0.08,
    transposed=0.02,
    nhs_present=0.5,
    nhs_typo=0.04,
)


@dataclass(frozen=True, slots=True)
class Row:
    """One input row of ``backbone identity resolve``."""

    record_id: str
    agency: str
    local_id: str
    given_name: str
    family_name: str
    birth_date: str
    address: str
    postcode: str
    nhs_number: str


@dataclass(frozen=True, slots=True)
class LinkageSet:
    """Rows in file order and the true entity of each record."""

    name: str
    rows: list[Row]
    labels: dict[str, str]


class World:
    """People in households, drawn reproducibly from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {locale: Faker(locale) for locale in LOCALES}
        for offset, fake in enumerate(self.fakers.values()):
            fake.seed_instance(seed * 100 + offset)
            for provider in fake.get_providers():
                # Faker builds some towns lists from sets (it_IT), whose order changes with
                # the hash seed of each run: sorted, the same seed gives the same files.
                if isinstance(towns := getattr(provider, "cities", None), list):
                    provider.cities = sorted(towns)
        self.nicknames = NickNamer()
        self._next = 0

    def people(self, count: int) -> list[Person]:
        """At least ``count`` people, household by household."""
        people: list[Person] = []
        while len(people) < count:
            people.extend(self._household())
        return people

    def _entity(self) -> str:
        self._next += 1
        return f"E{self._next:07d}"

    def _given(self, locale: str, sex: str) -> str:
        fake = self.fakers[locale]
        return str(fake.first_name_female() if sex == "F" else fake.first_name_male())

    def _nhs(self, locale: str) -> str:
        if locale != "en_GB":
            return ""
        while True:
            digits = [self.rng.randrange(10) for _ in range(9)]
            check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
            if check != 10:
                return "".join(map(str, digits)) + str(check % 11)

    def place(self, locale: str) -> tuple[str, str, str]:
        """A street address, town and postcode in ``locale``'s formats."""
        fake = self.fakers[locale]
        street = ", ".join(str(fake.street_address()).splitlines())
        return street, str(fake.city()), str(fake.postcode())

    def birth(self, low: int, high: int) -> dt.date:
        """A birth date between two years."""
        return dt.date(low, 1, 1) + dt.timedelta(days=self.rng.randrange((high - low) * 365))

    def _household(self) -> list[Person]:
        rng = self.rng
        locale = rng.choice(LOCALES)
        street, city, postcode = self.place(locale)
        family = str(self.fakers[locale].last_name())
        size = rng.choices((1, 2, 3, 4, 5), weights=(40, 28, 15, 12, 5))[0]
        sex = rng.choice("FM")
        head = self.birth(1935, 2004)
        members = [(sex, self._given(locale, sex), family, head)]
        if size > 1:
            other = "M" if sex == "F" else "F"
            surname = family if rng.random() < 0.8 else str(self.fakers[locale].last_name())
            spouse = head + dt.timedelta(days=rng.randrange(-6 * 365, 6 * 365))
            members.append((other, self._given(locale, other), surname, spouse))
        while len(members) < size:
            child_sex = rng.choice("FM")
            previous = members[-1]
            if len(members) > 2 and rng.random() < 0.1:  # twins: one birthday, two names
                given = self._given(locale, child_sex)
                members.append((child_sex, given, family, previous[3]))
                continue
            parent = next((m for m in members[:2] if m[0] == child_sex), None)
            junior = parent is not None and rng.random() < 0.06
            given = parent[1] if junior and parent else self._given(locale, child_sex)
            birth = head + dt.timedelta(days=rng.randrange(20 * 365, 40 * 365))
            if birth > _TODAY:
                break
            members.append((child_sex, given, family, birth))
        return [
            Person(self._entity(), locale, s, g, f, b, street, city, postcode, self._nhs(locale))
            for s, g, f, b in members
        ]


_TODAY = dt.date(2024, 12, 31)


# Corruption ----------------------------------------------------------------------------------


def typo(text: str, rng: random.Random) -> str:
    """One insertion, deletion, substitution or transposition of adjacent letters."""
    if len(text) < 2:
        return text
    at = rng.randrange(len(text) - 1)
    kind = rng.randrange(4)
    letter = rng.choice(string.ascii_lowercase)
    if kind == 0:
        return text[:at] + letter + text[at:]
    if kind == 1:
        return text[:at] + text[at + 1 :]
    if kind == 2:
        return text[:at] + letter + text[at + 1 :]
    return text[:at] + text[at + 1] + text[at] + text[at + 2 :]


def strip_accents(text: str) -> str:
    """How a system without accents writes a name: "Müller" as "Muller", "Łukasz" unchanged."""
    return "".join(
        char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char)
    )


def format_date(date: dt.date, style: str) -> str:
    """``date`` in one of the formats agencies use."""
    if style == "iso":
        return date.isoformat()
    if style == "dmy":
        return f"{date.day:02}/{date.month:02}/{date.year}"
    if style == "mdy":
        return f"{date.month:02}/{date.day:02}/{date.year}"
    if style == "dotted":
        return f"{date.day}.{date.month}.{date.year}"
    if style == "compact":
        return f"{date.year}{date.month:02}{date.day:02}"
    return f"{date.day} {_MONTHS[date.month - 1]} {date.year}"


class Corrupter:
    """Writes a person as one agency's record, with that agency's habits and errors."""

    def __init__(self, world: World, noise: Noise) -> None:
        self.world = world
        self.rng = world.rng
        self.noise = noise
        self._local = 0

    def _chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def _name(self, name: str) -> str:
        noise = self.noise
        if self._chance(noise.accents):
            name = strip_accents(name)
        if self._chance(noise.typo):
            name = typo(name, self.rng)
            if self._chance(noise.second_typo / max(noise.typo, 1e-9)):
                name = typo(name, self.rng)
        return name.upper() if self._chance(0.05) else name

    def _given(self, given: str) -> str:
        noise, rng = self.noise, self.rng
        if " " in given and self._chance(0.5):
            given = given.split(maxsplit=1)[0]
        if self._chance(noise.nickname):
            familiar = sorted(self.world.nicknames.nicknames_of(given.split()[0]))
            familiar += NICKNAMES.get(given.split()[0].lower(), ())
            if familiar:
                return rng.choice(familiar).title()
        if self._chance(noise.initial):
            return given[0]
        return self._name(given)

    def _date(self, date: dt.date, style: str) -> str:
        noise, rng = self.noise, self.rng
        if self._chance(noise.swapped_date) and date.day <= 12:
            date = date.replace(month=date.day, day=date.month)
        elif self._chance(noise.date_typo):
            text = list(date.strftime("%Y%m%d"))
            at = rng.choice((3, 5, 6, 7))
            text[at] = str(rng.randrange(10))
            try:
                date = dt.datetime.strptime("".join(text), "%Y%m%d").date()
            except ValueError:
                date += dt.timedelta(days=rng.choice((-365, 365)))
        elif self._chance(noise.wrong_date):
            date = self.world.birth(1935, 2020)
        return format_date(date, style)

    def _address(self, street: str, city: str) -> str:
        rng = self.rng
        if self._chance(self.noise.address_variant):
            for full, short in _ABBREVIATIONS.items():
                street = street.replace(full, short)
        if self._chance(self.noise.typo / 2):
            street = typo(street, rng)
        return street if self._chance(0.2) else f"{street}, {city}"

    def _postcode(self, code: str) -> str:
        if self._chance(0.2):
            code = code.replace(" ", "").replace("-", "")
        if self._chance(self.noise.typo / 3):
            code = typo(code, self.rng)
        return code.lower() if self._chance(0.1) else code

    def _blank(self, value: str) -> str:
        return "" if self._chance(self.noise.missing) else value

    def record(self, person: Person, record_id: str, agency: str, date_style: str) -> Row:
        """A corrupted record of ``person`` at ``agency``."""
        noise, rng = self.noise, self.rng
        self._local += 1
        street, city, postcode = person.street, person.city, person.postcode
        if self._chance(noise.moved):
            street, city, postcode = self.world.place(person.locale)
        family = person.family
        if person.sex == "F" and self._chance(noise.married):
            family = str(self.world.fakers[person.locale].last_name())
        given, family = self._given(person.given), self._name(family)
        if self._chance(noise.transposed):
            given, family = family, given
        style = "mdy" if person.locale == "en_US" and date_style == "dmy" else date_style
        nhs = person.nhs if person.nhs and self._chance(noise.nhs_present) else ""
        if nhs and self._chance(noise.nhs_typo):
            nhs = typo(nhs, rng)
        return Row(
            record_id=record_id,
            agency=agency,
            local_id=f"{agency[-1].upper()}{self._local:08d}",
            given_name=self._blank(given),
            family_name=self._blank(family),
            birth_date=self._blank(self._date(person.birth, style)),
            address=self._blank(self._address(street, city)),
            postcode=self._blank(self._postcode(postcode)),
            nhs_number=nhs,
        )


# The three sets ------------------------------------------------------------------------------


def _labelled(name: str, entries: Sequence[tuple[Person, Callable[[str], Row]]]) -> LinkageSet:
    rows, labels = [], {}
    for number, (person, make) in enumerate(entries):
        row = make(f"{name}-{number:07d}")
        rows.append(row)
        labels[row.record_id] = person.entity_id
    return LinkageSet(name, rows, labels)


def one_to_one(records: int, seed: int, noise: Noise = LIGHT) -> LinkageSet:
    """Two agencies that both know every person once: all of the first, then the second."""
    world = World(seed)
    people = world.people(records // 2)[: records // 2]
    clean = Corrupter(world, replace(noise, typo=noise.typo / 3, missing=noise.missing / 3))
    noisy = Corrupter(world, noise)
    second = list(people)
    world.rng.shuffle(second)
    entries = [(p, _maker(clean, p, "agency-a", "iso")) for p in people]
    entries += [(p, _maker(noisy, p, "agency-b", "dmy")) for p in second]
    return _labelled("link", entries)


def dedup(records: int, seed: int, noise: Noise = MEDIUM) -> LinkageSet:
    """One agency's caseload holding each person 1 to 6 times, in shuffled order."""
    world = World(seed)
    corrupter = Corrupter(world, noise)
    rng = world.rng
    entries: list[tuple[Person, Callable[[str], Row]]] = []
    for person in world.people(records):
        if len(entries) >= records:
            break
        copies = rng.choices(range(1, 7), weights=(45, 22, 13, 9, 6, 5))[0]
        for _ in range(min(copies, records - len(entries))):
            style = rng.choice(("iso", "dmy", "dotted", "written"))
            entries.append((person, _maker(corrupter, person, "caseload", style)))
    rng.shuffle(entries)
    return _labelled("dedup", entries)


def multi_source(records: int, seed: int, noise: Noise = HEAVY) -> LinkageSet:
    """Three to five agencies, each knowing some of the people, heavily corrupted."""
    world = World(seed)
    rng = world.rng
    agencies = [
        (f"agency-{letter}", rng.choice(_DATE_FORMATS)) for letter in "abcde"[: rng.randrange(3, 6)]
    ]
    corrupter = Corrupter(world, noise)
    entries: list[tuple[Person, Callable[[str], Row]]] = []
    for person in world.people(records):
        if len(entries) >= records:
            break
        count = rng.choices((1, 2, 3, 4), weights=(30, 35, 25, 10))[0]
        known = rng.sample(agencies, min(count, len(agencies)))  # a seed may draw 3 agencies
        for agency, style in known[: records - len(entries)]:
            entries.append((person, _maker(corrupter, person, agency, style)))
    rng.shuffle(entries)
    return _labelled("hard", entries)


def _maker(corrupter: Corrupter, person: Person, agency: str, style: str) -> Callable[[str], Row]:
    """The record, drawn now so that the random stream does not depend on file order."""
    row = corrupter.record(person, "", agency, style)
    return lambda record_id: replace(row, record_id=record_id)


SETS: dict[str, Callable[[int, int], LinkageSet]] = {
    "link": one_to_one,
    "dedup": dedup,
    "hard": multi_source,
}


def write(linkage: LinkageSet, folder: Path) -> tuple[Path, Path]:
    """``NAME.csv`` and ``NAME.labels.csv`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data, labels = folder / f"{linkage.name}.csv", folder / f"{linkage.name}.labels.csv"
    with data.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows([getattr(row, column) for column in COLUMNS] for row in linkage.rows)
    with labels.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("record_id", "entity_id"))
        writer.writerows(linkage.labels.items())
    return data, labels


def main(argv: Sequence[str] | None = None) -> None:
    """Write the three sets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for make in SETS.values():
        for path in write(make(args.records, args.seed), args.folder):
            print(path)


if __name__ == "__main__":
    main()
