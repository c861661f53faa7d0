"""Fellegi-Sunter scoring of a record against a person, with housemates told apart.

For each field a comparison falls into one agreement level, best first, the last being
disagreement. A level's weight is ``log2(m / u)`` bits, where ``m`` is the probability of
that level when record and person are the same person and ``u`` when they are not; a
missing field (on either side) contributes 0. The score is the log2 Bayes factor in favour
of a link, which the matcher compares with its thresholds.

``m`` starts from priors (:data:`DEFAULT_FIELDS`) and is refined by the stream's own
confident links (:class:`FieldState`). ``u`` of the exact levels comes from the values seen:

- names get term-frequency weights: agreeing on a surname one record in 100,000 carries is
  worth ``log2(m / 1e-5)`` ≈ 16 bits, agreeing on one that 1 in 100 carry ≈ 6.5 bits;
- birth date, postcode, address and other identifiers use the chance that two records seen
  so far agree (``sum c(c-1) / n(n-1)`` over value counts ``c``);

both smoothed towards the prior ``u`` with ``prior_records`` pseudo-records, so the first
records of a stream are neither over- nor under-trusted.

Independence fails for one kind of non-match that matters here: people who live together
share address, postcode and usually family name, and twins a birthday. So a non-match is a
stranger with probability ``1 - h`` and a housemate with probability ``h``, each with its
own ``u`` (:class:`FieldModel` ``housemate_u``), and the score is
``-log2((1 - h) 2^-S + h 2^-H)`` for the stranger and housemate sums ``S`` and ``H``. ``h``
is measured: the share of pairs of persons that have an address in common. On data without
households (a benchmark of independent people) it tends to 0 and the score to plain
Fellegi-Sunter; with households, a record that agrees on the home but not on given name
or birth date is recognised as a housemate, not as the person.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

from streams.identity.comparisons import Levels, Profile, compare
from streams.identity.records import Features


@dataclass(frozen=True, slots=True)
class FieldModel:
    """``m`` and ``u`` of each agreement level of one field, best level first.

    ``u`` is between strangers, ``housemate_u`` between different people of one home. The
    first ``u`` is only the prior of the exact level: the scorer replaces it with the
    frequencies observed on the stream.
    """

    levels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]
    housemate_u: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Fields:
    """The models of every compared field."""

    given: FieldModel
    family: FieldModel
    birth_date: FieldModel
    postcode: FieldModel
    address: FieldModel
    other_id: FieldModel


#: Priors. ``m``: agencies' records of one person agree exactly on the given name 80% of
#: the time, use a nickname 5%, have a small (8%) or larger (4%) typo or just an initial,
#: and 3% are unrelated (another forename in use); family names change on marriage (7%);
#: birth dates are swapped (3%), mistyped (7%), or wrong (5%); 15% of pairs have moved.
#: Housemates: 3% share a given name (a parent and child), 60% a family name, 2% a birth
#: date (twins), and almost all the address.
DEFAULT_FIELDS = Fields(
    given=FieldModel(
        ("exact", "nickname", "jaro-winkler >= 0.92", "jaro-winkler >= 0.80 or initial", "else"),
        m=(0.80, 0.05, 0.08, 0.04, 0.03),
        u=(0.004, 0.003, 0.004, 0.05, 0.94),
        housemate_u=(0.03, 0.01, 0.01, 0.02, 0.93),
    ),
    family=FieldModel(
        ("exact", "jaro-winkler >= 0.92 or one of the names", "jaro-winkler >= 0.80", "else"),
        m=(0.82, 0.07, 0.04, 0.07),
        u=(0.002, 0.003, 0.03, 0.96),
        housemate_u=(0.6, 0.1, 0.05, 0.25),
    ),
    birth_date=FieldModel(
        ("exact", "day and month swapped", "one digit off or year +-1", "same year", "else"),
        m=(0.85, 0.03, 0.07, 0.02, 0.03),
        u=(3e-5, 3e-5, 0.001, 0.02, 0.98),
        housemate_u=(0.02, 0.001, 0.003, 0.1, 0.876),
    ),
    postcode=FieldModel(
        ("exact", "one character off", "same first half", "else"),
        m=(0.76, 0.04, 0.05, 0.15),
        u=(1e-4, 1e-4, 0.01, 0.99),
        housemate_u=(0.85, 0.03, 0.02, 0.1),
    ),
    address=FieldModel(
        ("same", "token set ratio >= 85", "token set ratio >= 70 or other house", "else"),
        m=(0.70, 0.10, 0.05, 0.15),
        u=(1e-4, 5e-4, 0.01, 0.99),
        housemate_u=(0.8, 0.1, 0.05, 0.05),
    ),
    other_id=FieldModel(
        ("exact", "one character off", "else"),
        m=(0.9, 0.05, 0.05),
        u=(1e-5, 1e-4, 1.0),
        housemate_u=(1e-5, 1e-4, 1.0),
    ),
)


class FieldState:
    """One field: its current ``m`` and ``u`` per level, the weights they give, and the
    values seen.

    ``m`` starts at the priors and is refined on the stream: each confident link counts the
    level this field was at, provided the link was confident without this field (so a field
    is never credited for links it decided, which would bias its ``m`` towards agreement).
    ``prior_pairs`` pseudo-links keep the priors' weight until real links outnumber them.

    The values seen give the exact level's ``u``: per value for names (term frequencies,
    :meth:`share`), as the chance that two records agree for the other fields (``measured``).
    """

    __slots__ = (
        "counts",
        "home",
        "m",
        "measured",
        "model",
        "pairs",
        "prior_pairs",
        "prior_records",
        "seen",
        "total",
        "u",
        "values",
        "weights",
    )

    def __init__(self, model: FieldModel, config: MatchConfig, *, measured: bool) -> None:
        self.model = model
        self.measured = measured
        self.prior_pairs = config.prior_pairs
        self.prior_records = config.prior_records
        self.m = list(model.m)
        self.u = list(model.u)
        self.weights = [math.log2(m / u) for m, u in zip(self.m, self.u, strict=True)]
        self.home = [math.log2(m / u) for m, u in zip(self.m, model.housemate_u, strict=True)]
        self.counts = [0] * len(model.m)
        self.seen = 0
        self.values: dict[Hashable, int] = {}
        self.total = 0
        self.pairs = 0

    def count(self, value: Hashable, change: int = 1) -> None:
        """Count ``change`` more records carrying ``value`` (a negative change takes records
        back, as if never seen: erasure), and re-derive the exact level's ``u`` from the
        chance that two records agree (smoothed by ``prior_records``)."""
        before = self.values.get(value, 0)
        after = before + change
        if after > 0:
            self.values[value] = after
        elif after == 0:
            del self.values[value]
        else:
            raise ValueError("cannot take back more records of a value than were counted")
        # Pairs of records agreeing on a value: c(c-1)/2, changed by change(2c + change - 1)/2.
        self.pairs += change * (2 * before + change - 1) // 2
        self.total = total = self.total + change
        if self.measured:
            prior = self.prior_records
            if total:
                u = (self.pairs + self.model.u[0] * prior) / (total * (total - 1) / 2 + prior)
            else:
                u = self.model.u[0]  # exactly a state that never saw a record
            self.u[0] = u
            self.weights[0] = math.log2(self.m[0] / u)

    def share(self, value: Hashable) -> float:
        """The smoothed share of records carrying ``value``: its term-frequency ``u``."""
        prior = self.prior_records
        return (self.values.get(value, 0) + self.model.u[0] * prior) / (self.total + prior)

    def learn(self, level: int, times: int = 1) -> None:
        """Count a confident link at ``level`` and re-derive ``m`` and the weights."""
        self.counts[level] += times
        self.seen += times
        prior, seen, model = self.prior_pairs, self.seen, self.model
        for at, (count, m) in enumerate(zip(self.counts, model.m, strict=True)):
            self.m[at] = (count + prior * m) / (seen + prior)
            self.weights[at] = math.log2(self.m[at] / self.u[at])
            self.home[at] = math.log2(self.m[at] / model.housemate_u[at])


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Everything the matcher's decisions depend on.

    Scores are log2 Bayes factors (bits). A person among ``n`` is linked when the score
    reaches ``log2(n) + link_margin`` (and at least ``link_floor``): the prior odds that a
    record is a given one of ``n`` persons are about ``1/n``, so the evidence needed grows
    with the population, and the margin asks for posterior odds of 4 to 1. Housemates who
    agree on the home and on all but one personal field (twins; a parent and child of one
    name) score about ``log2(n)``: the margin keeps them apart, for about half a point of
    recall on ``bench/linkage_data.py``'s sets. The grey band is the ``review_band`` bits
    below the threshold.
    """

    fields: Fields = DEFAULT_FIELDS
    link_margin: float = 2.0
    link_floor: float = 12.0
    review_band: float = 4.0
    #: Prior share of pairs of persons that live together, and its weight in pairs.
    housemates: float = 1e-3
    housemate_prior_pairs: float = 1e5
    #: The score reported for a link on a valid NHS number.
    nhs_bits: float = 40.0
    #: Added when given and family names agree only the other way round.
    transposed_bits: float = -1.0
    #: Pseudo-records of prior ``u`` in each frequency estimate.
    prior_records: float = 1000.0
    #: Pseudo-links of prior ``m``; 0 turns learning ``m`` on the stream off.
    prior_pairs: float = 500.0
    #: A link teaches a field's ``m`` when it scores this much above the link threshold
    #: with that field at its worst level.
    learn_margin: float = 0.0
    #: Links teach ``m`` on every ``learn_every``-th record only: enough to follow the
    #: stream, at a quarter of the cost.
    learn_every: int = 4
    #: A candidate this far above the link threshold ends the search for better ones.
    sure_margin: float = 2.0
    #: Largest block read (see :mod:`streams.identity.blocking`).
    block_cap: int = 64
    #: Persons scored per record: those sharing the most blocking keys.
    candidates: int = 4
    #: When some person shares this many blocking keys, persons sharing one are not scored.
    lone_key_skip: int = 2
    #: Distinct values kept per field and person.
    values_per_field: int = 8

    def link_at(self, persons: int) -> float:
        """The score a link needs among ``persons`` persons."""
        return max(self.link_floor, math.log2(max(persons, 1)) + self.link_margin)


FIELD_NAMES = ("given", "family", "birth_date", "postcode", "address", "other_id")


class Scorer:
    """Scores records against persons with the current models and observed frequencies."""

    def __init__(self, config: MatchConfig) -> None:
        self.config = config
        models = config.fields
        self.given = FieldState(models.given, config, measured=False)
        self.family = FieldState(models.family, config, measured=False)
        self.birth_date = FieldState(models.birth_date, config, measured=True)
        self.postcode = FieldState(models.postcode, config, measured=True)
        self.address = FieldState(models.address, config, measured=True)
        self.other_id = FieldState(models.other_id, config, measured=True)
        #: The states in the order of :data:`~streams.identity.comparisons.Levels`.
        self._ordered = tuple(getattr(self, name) for name in FIELD_NAMES)
        #: Persons per address, pairs of persons sharing one, and persons in all.
        self._homes: dict[str, int] = {}
        self._home_pairs = 0
        self.persons = 0
        self._housemates = config.housemates

    @property
    def states(self) -> dict[str, FieldState]:
        """Every field's state, by name."""
        return dict(zip(FIELD_NAMES, self._ordered, strict=True))

    def observe(self, features: Features, change: int = 1) -> None:
        """Count a record's values (``change`` -1 takes a record back) and update the
        frequency-based ``u``.

        The weights are a function of the counts alone, whatever order the records came in,
        so a matcher rebuilt from a snapshot scores exactly as the one that wrote it, and
        one that took records back exactly as one that never saw them.
        """
        if features.given:
            self.given.count(features.given.first, change)
        if features.family:
            self.family.count(features.family.core, change)
        if features.dates:
            self.birth_date.count(features.dates[0], change)
        if features.postcode:
            self.postcode.count(features.postcode, change)
        if features.address:
            self.address.count(features.address.text, change)
        if features.other_id:
            self.other_id.count(features.other_id, change)

    def count_persons(self, change: int) -> None:
        """A person was started (+1) or merged away (-1)."""
        self.persons += change
        self._update_housemates()

    def count_home(self, home: str, change: int) -> None:
        """A person gained (+1) or lost (-1) ``home`` (an address's blocking key, which
        ignores the town and the spelling of the street): the measure of ``h``."""
        before = self._homes.get(home, 0)
        if before + change:
            self._homes[home] = before + change
        else:
            del self._homes[home]
        self._home_pairs += before if change > 0 else -(before - 1)
        self._update_housemates()

    def _update_housemates(self) -> None:
        config, persons = self.config, self.persons
        pairs = persons * (persons - 1) / 2
        weight = config.housemate_prior_pairs
        self._housemates = (self._home_pairs + weight * config.housemates) / (pairs + weight)

    def score(self, features: Features, person: Profile) -> float:
        """The log2 Bayes factor that ``features`` describes ``person``; 0 if nothing compares."""
        return self._evaluate(features, compare(features, person))

    def learn(
        self, features: Features, person: Profile, turn: int, *, certain: bool = False
    ) -> None:
        """Refine ``m`` with a link just made (see :class:`FieldState`), on every
        ``learn_every``-th ``turn`` (the count of records seen, which a snapshot keeps).

        A field is credited only when the link would have been made with the field at its
        worst level: one credited for links it tipped would see its own agreement in every
        one of them, and its ``m`` would drift towards agreement. A ``certain`` link (on a
        valid NHS number) was decided by none of these fields, so it teaches every one.
        """
        if not self.config.prior_pairs or turn % self.config.learn_every:
            return
        levels = compare(features, person)
        enough = self.config.link_at(self.persons) + self.config.learn_margin
        for at, state in enumerate(self._ordered):
            level = levels[at]
            if level < 0:
                continue
            if not certain:
                worst = list(levels)
                worst[at] = len(state.m) - 1
                if self._evaluate(features, tuple(worst)) < enough:  # type: ignore[arg-type]
                    continue
            state.learn(level)

    def _evaluate(self, features: Features, levels: Levels) -> float:
        """The score at ``levels``, from the stranger and the housemate sums (see the module).

        Written out in one piece: it runs a few times per record, and calls cost.
        """
        given_at, family_at, date_at, postcode_at, address_at, id_at, crossed = levels
        given, family = self.given, self.family
        strangers = housemates = self.config.transposed_bits if crossed else 0.0
        if given_at >= 0:
            if given_at:
                strangers += given.weights[given_at]
            else:
                name = features.family_as_given if crossed else features.given
                strangers += math.log2(given.m[0] / given.share(name.first if name else ""))
            housemates += given.home[given_at]
        if family_at >= 0:
            if family_at:
                strangers += family.weights[family_at]
            else:
                surname = features.given_as_family if crossed else features.family
                strangers += math.log2(family.m[0] / family.share(surname.core if surname else ""))
            housemates += family.home[family_at]
        if date_at >= 0:
            strangers += self.birth_date.weights[date_at]
            housemates += self.birth_date.home[date_at]
        if id_at >= 0:
            strangers += self.other_id.weights[id_at]
            housemates += self.other_id.home[id_at]
        postcode, address = self.postcode, self.address
        strangers += _combine(postcode.weights, postcode_at, address.weights, address_at)
        housemates += _combine(postcode.home, postcode_at, address.home, address_at)
        share = self._housemates
        return strangers - math.log2(1 - share + share * math.exp2(strangers - housemates))


def _combine(
    postcode: list[float], postcode_at: int, address: list[float], address_at: int
) -> float:
    """Postcode and address weights as one: where the person lives.

    The two agree or disagree together (a move changes both), so counting both would count
    one fact twice: when they point the same way the stronger one is taken.
    """
    if postcode_at < 0:
        return address[address_at] if address_at >= 0 else 0.0
    if address_at < 0:
        return postcode[postcode_at]
    first, second = postcode[postcode_at], address[address_at]
    if (first > 0) == (second > 0):
        return max(first, second)
    return first + second
