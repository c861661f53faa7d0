"""Given and family names in comparable forms: folded, particles set apart, nicknames known.

Names are the most repeated values in a caseload, so each form is computed once per distinct
spelling (an LRU cache) and then shared by every record that carries it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jellyfish
from nicknames import NickNamer

from streams.identity.normalise import words as split_words

#: Surname particles: "van der Berg", "de la Cruz", "D'Angelo", "dos Santos". Agencies write
#: them attached, separate, capitalised or not, or leave them out.
PARTICLES = frozenset(
    [
        "van",
        "der",
        "den",
        "de",
        "la",
        "le",
        "las",
        "los",
        "von",
        "zu",
        "da",
        "di",
        "del",
        "della",
        "dos",
        "das",
        "du",
        "ten",
        "ter",
        "y",
        "e",
        "d",
        "l",
    ]
)

#: Familiar forms the English-language ``nicknames`` table does not cover, for the other
#: languages agencies serve. Each line: the full name, then its familiar forms.
_MORE_NICKNAMES = """
alexander sasha sacha sascha shura alex
aleksander olek alek
aleksandra ola ala
alexandra sasha sacha sascha
francisco paco pancho curro chico kiko fran
jose pepe ze chepe
ignacio nacho
dolores lola
guadalupe lupe
concepcion concha conchita
manuel manolo manu
enrique quique
rosario charo
mercedes merche
antonio toni tono toninho
giuseppe beppe peppe pino
giovanni gianni nino
francesco cecco checco
salvatore toto turi
vincenzo enzo
alessandro sandro
elisabetta betta
johannes hans jan johann
katharina kathi katja
elisabeth lisa liesel sissi
friedrich fritz
heinrich heinz heiko
katarzyna kasia kaska
malgorzata gosia malgosia
wojciech wojtek
grzegorz grzes
tomasz tomek
krzysztof krzys
agnieszka aga
magdalena magda
jozef jozek
cornelis kees
jacobus koos jaap
hendrik henk
gerardus gerard gert
joao joaozinho
francisca chica
""".strip().splitlines()

#: At most this many nickname groups per name in blocking keys: a short form such as "al"
#: stands for a dozen names, and every group costs a key. Comparisons use them all.
MAX_GROUPS = 3


def _nickname_groups() -> dict[str, frozenset[str]]:
    """Each name, full or familiar, with the full names it may stand for (itself included)."""
    groups: dict[str, set[str]] = {}
    for nickname, canonicals in NickNamer().canonical_lookup.items():
        groups.setdefault(nickname, set()).update(canonicals)
    for line in _MORE_NICKNAMES:
        full, *familiar = line.split()
        for nickname in familiar:
            groups.setdefault(nickname, set()).add(full)
    return {name: frozenset({name, *full}) for name, full in groups.items()}


_GROUPS = _nickname_groups()
_CACHE = 1 << 16


class GivenName(NamedTuple):
    """A given name: ``full`` folded, its ``first`` word, and the ``groups`` it may stand for.

    ``group_keys`` are at most :data:`MAX_GROUPS` of the groups in a fixed order, for
    blocking keys; ``sound`` is the Soundex code of the first word.
    """

    full: str
    first: str
    groups: frozenset[str]
    group_keys: tuple[str, ...]
    sound: str


class FamilyName(NamedTuple):
    """A family name: ``full`` without spaces, ``core`` without particles, and its words.

    "van der Berg", "Vanderberg" and "Berg" share ``core`` or ``full``; "García López" keeps
    "garcia" and "lopez" in ``words`` so that either surname alone still agrees partly.
    """

    full: str
    core: str
    words: frozenset[str]
    sound: str


def nickname_groups(first: str) -> frozenset[str]:
    """The full names a folded first name may stand for, itself included."""
    return _GROUPS.get(first) or frozenset({first})


class NameForms(NamedTuple):
    """One written name read both ways: as a given name and as a family name."""

    given: GivenName | None
    family: FamilyName | None


@lru_cache(maxsize=_CACHE)
def name_forms(text: str) -> NameForms:
    """Both comparable forms of a name, from one split: every record needs both, since
    agencies write given and family name the other way round."""
    words = split_words(text)
    if not words:
        return NameForms(None, None)
    first = words[0]
    groups = nickname_groups(first)
    keys = (first, *sorted(groups - {first})[:MAX_GROUPS]) if len(groups) > 1 else (first,)
    core = [word for word in words if word not in PARTICLES] or words
    joined = "".join(core)
    return NameForms(
        GivenName(" ".join(words), first, groups, tuple(sorted(keys)), jellyfish.soundex(first)),
        FamilyName("".join(words), joined, frozenset(core), jellyfish.soundex(joined)),
    )


def given_name(text: str) -> GivenName | None:
    """The comparable form of a given name, or ``None`` when nothing is left of it."""
    return name_forms(text).given


def family_name(text: str) -> FamilyName | None:
    """The comparable form of a family name, or ``None`` when nothing is left of it."""
    return name_forms(text).family
