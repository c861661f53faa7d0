"""The streaming matcher: each record joins an existing person, starts one, or goes to review.

Records are taken one at a time, as the stream delivers them, and every decision is final
until an integration engineer merges or splits persons, or a person is erased
(:meth:`Matcher.forget`): keys never change behind the view's back, and the same records in
the same order always give the same keys.

1. A known ``(agency, local_id)`` keeps its person; new values it brings (a new address)
   are learnt for later matching.
2. A valid NHS number already seen links deterministically.
3. Otherwise the persons sharing blocking keys with the record are ranked by how many keys
   they share, the best few are scored (:mod:`streams.identity.scoring`), and the record
   links to the best if it scores enough bits (:meth:`MatchConfig.link_at`). In the grey
   band below it starts a provisional person and the outcome is ``review``, with the
   candidates for an engineer to merge into; below that, it starts a new person.

Everything is in memory; :meth:`Matcher.snapshot` and :meth:`Matcher.restore` move the state
(links, the values each link was seen with, retired keys, and what links taught the ``m``
probabilities) to and from durable storage; a restored matcher decides exactly as the one
that was snapshotted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from streams.identity.blocking import HOME_KEY, BlockIndex, blocking_keys
from streams.identity.comparisons import Profile
from streams.identity.errors import IdentityError
from streams.identity.keys import PersonKeys
from streams.identity.records import Features, IdentityRecord, Link, features
from streams.identity.scoring import MatchConfig, Scorer

Outcome = Literal["known", "linked", "new", "review"]


class Candidate(NamedTuple):
    """A person a record was scored against, and the score in bits."""

    person_key: str
    score: float


class Resolution(NamedTuple):
    """What became of a record: its person's key, and why.

    ``score`` is the best candidate's (``None`` for a known link or when no person shared a
    blocking key); ``candidates`` are the persons that scored in the grey band or above,
    best first: for a review, the persons the engineer may merge the provisional one into.
    """

    outcome: Outcome
    person_key: str
    score: float | None = None
    candidates: tuple[Candidate, ...] = ()
    #: Whether the record was new to the matcher (so its durable store must keep it too).
    observed: bool = True


@dataclass(frozen=True, slots=True)
class Rekey:
    """Links that a merge or a split moved from ``old_key`` to ``new_key``: re-key the view."""

    old_key: str
    new_key: str
    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class Observation:
    """One distinct record of a link, as its person holds it."""

    person_key: str
    record: IdentityRecord


@dataclass(frozen=True, slots=True)
class Learned:
    """How many confident links were at each agreement level of one field."""

    field: str
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The matcher's whole state as plain rows.

    ``observations`` are in person order (oldest person first), each person's in the order
    seen; ``retired_keys`` are keys merged away, never to be handed out again; ``learned``
    is what links taught the ``m`` probabilities.
    """

    observations: tuple[Observation, ...]
    retired_keys: tuple[str, ...] = ()
    learned: tuple[Learned, ...] = ()


class _Person:
    __slots__ = ("blocking_keys", "key", "profile", "records")

    def __init__(self, key: str) -> None:
        self.key = key
        self.profile = Profile()
        self.records: list[IdentityRecord] = []
        self.blocking_keys: set[str] = set()


class Matcher:
    """Resolves identity records to pseudonymous person keys, one record at a time."""

    def __init__(self, secret: bytes, config: MatchConfig | None = None) -> None:
        self.config = config or MatchConfig()
        self._keys = PersonKeys(secret)
        self._scorer = Scorer(self.config)
        self._index = BlockIndex(self.config.block_cap)
        self._persons: dict[int, _Person] = {}
        self._by_key: dict[str, int] = {}
        self._links: dict[Link, int] = {}
        self._nhs: dict[str, int] = {}
        #: Records taken in so far (restored with them): the turn of :meth:`Scorer.learn`.
        self._taken = 0
        self._retired: set[str] = set()
        self._next = 0

    def __len__(self) -> int:
        """How many persons there are."""
        return len(self._persons)

    def person_key(self, link: Link) -> str | None:
        """The key of the person ``link`` belongs to, if it has been seen."""
        person = self._links.get(link)
        return None if person is None else self._persons[person].key

    def links(self, person_key: str) -> tuple[Link, ...]:
        """The links of a person, in the order first seen."""
        return tuple(dict.fromkeys(record.link for record in self._person(person_key).records))

    def resolve(self, record: IdentityRecord) -> Resolution:
        """Link ``record`` to a person, or start one; see the module's description."""
        known = self._links.get(record.link)
        if known is not None:
            observed = record not in self._persons[known].records
            if observed:
                self._take(known, record, features(record))
            return Resolution("known", self._persons[known].key, observed=observed)
        found = features(record)
        if found.nhs and (same := self._nhs.get(found.nhs)) is not None:
            self._scorer.learn(found, self._persons[same].profile, self._taken, certain=True)
            self._take(same, record, found)
            key, bits = self._persons[same].key, self.config.nhs_bits
            return Resolution("linked", key, bits, (Candidate(key, bits),))
        keys = blocking_keys(found)
        link_at = self.config.link_at(len(self._persons))
        scored = self._score(found, keys, link_at)
        review_at = link_at - self.config.review_band
        best = scored[0][0] if scored else None
        outcome: Outcome
        if best is not None and best >= link_at:
            person, outcome = scored[0][1], "linked"
            self._scorer.learn(found, self._persons[person].profile, self._taken)
        else:
            person = self._start(record.link)
            outcome = "review" if best is not None and best >= review_at else "new"
        self._take(person, record, found, keys)
        candidates = tuple(
            Candidate(self._persons[other].key, score)
            for score, other in scored
            if score >= review_at
        )
        return Resolution(outcome, self._persons[person].key, best, candidates)

    def _score(self, found: Features, keys: list[str], link_at: float) -> list[tuple[float, int]]:
        """The best-ranked candidates' scores, best first (ties: the older person first).

        Candidates are scored in order of shared blocking keys, at most ``candidates`` of
        them, and none sharing a single key when another shares ``lone_key_skip`` (a shared
        birthday or postcode alone rarely means more); one that clears the link threshold
        by ``sure_margin`` ends the search, as none after it shares as much.
        """
        shared = self._index.candidates(keys)
        ranked = sorted([(-count, person) for person, count in shared.items()])
        if ranked and -ranked[0][0] >= self.config.lone_key_skip:
            ranked = [pair for pair in ranked if pair[0] < -1]
        scored = []
        sure = link_at + self.config.sure_margin
        persons, score = self._persons, self._scorer.score
        for _, person in ranked[: self.config.candidates]:
            profile = persons[person].profile
            if found.nhs and profile.nhs and found.nhs not in profile.nhs:
                continue  # two valid NHS numbers: two people
            bits = score(found, profile)
            scored.append((bits, person))
            if bits >= sure:
                break
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        return scored

    def merge(self, keep: str, other: str) -> Rekey:
        """Fold person ``other`` into ``keep`` (a review resolved as the same person).

        ``other`` is retired for good. Returns the links that now belong to ``keep``.
        """
        kept, merged = self._id(keep), self._id(other)
        if kept == merged:
            raise IdentityError("a person cannot be merged with itself")
        person = self._persons.pop(merged)
        del self._by_key[other]
        self._retired.add(other)
        self._detach(merged, person)
        self._scorer.count_persons(-1)
        for record in person.records:
            self._attach(kept, record, features(record))
        return Rekey(other, keep, tuple(dict.fromkeys(record.link for record in person.records)))

    def split(self, person_key: str, links: Iterable[Link]) -> Rekey:
        """Move ``links`` from a person to a new one (records wrongly linked together)."""
        moving = tuple(dict.fromkeys(links))
        own = self.links(person_key)
        if not moving or not set(moving) <= set(own):
            raise IdentityError("split needs links that belong to the person")
        if len(moving) == len(own):
            raise IdentityError("split must leave the person at least one link")
        person_id = self._by_key[person_key]
        person = self._persons[person_id]
        self._detach(person_id, person)
        records = person.records
        self._persons[person_id] = _Person(person_key)
        started = self._start(moving[0])
        for record in records:
            target = started if record.link in moving else person_id
            self._attach(target, record, features(record))
        return Rekey(person_key, self._persons[started].key, moving)

    def forget(self, person_key: str) -> tuple[Link, ...]:
        """Erase a person (the right to erasure) as if its records had never been seen.

        Its records, links, NHS numbers, blocking keys, home and the value frequencies its
        records added all go, so the matcher decides as one restored without them. The key
        is retired: a later record of one of its links starts a person under another key.
        What links taught the ``m`` probabilities stays: :class:`Learned` counts agreement
        levels, which identify nobody. Returns the person's links, in the order first seen.
        """
        person_id = self._id(person_key)
        person = self._persons.pop(person_id)
        del self._by_key[person_key]
        self._retired.add(person_key)
        held = {number for number in person.profile.nhs if self._nhs.get(number) == person_id}
        self._detach(person_id, person)
        self._scorer.count_persons(-1)
        links = tuple(dict.fromkeys(record.link for record in person.records))
        for link in links:
            del self._links[link]
        for record in person.records:
            self._scorer.observe(features(record), change=-1)
        self._taken -= len(person.records)
        self._reindex(person.blocking_keys, held)
        return links

    def _reindex(self, keys: set[str], numbers: set[str]) -> None:
        """Give ``keys``' blocks and the NHS ``numbers`` the persons a restore would give.

        A block past the cap holds only the first persons to reach it, so one that lost a
        person is rebuilt from every person with its key, oldest first; an NHS number goes to
        the oldest person carrying it. Linear in the persons: erasures are rare.
        """
        holders: dict[str, list[int]] = {key: [] for key in keys}
        for person_id, person in sorted(self._persons.items()):
            for key in keys & person.blocking_keys:
                holders[key].append(person_id)
            for number in numbers & person.profile.nhs:
                self._nhs.setdefault(number, person_id)
        for key, persons in holders.items():
            for person_id in persons:
                self._index.remove([key], person_id)
            for person_id in persons:
                self._index.add([key], person_id)

    def snapshot(self) -> Snapshot:
        """The state as plain rows, for durable storage."""
        return Snapshot(
            tuple(
                Observation(person.key, record)
                for _, person in sorted(self._persons.items())
                for record in person.records
            ),
            tuple(sorted(self._retired)),
            tuple(
                Learned(name, tuple(state.counts))
                for name, state in self._scorer.states.items()
                if state.seen
            ),
        )

    def restore(self, snapshot: Snapshot) -> None:
        """Rebuild the state a snapshot was taken of, into this empty matcher."""
        if self._persons or self._retired:
            raise IdentityError("restore needs an empty matcher")
        for observation in snapshot.observations:
            person = self._by_key.get(observation.person_key)
            if person is None:
                person = self._add_person(observation.person_key)
            self._take(person, observation.record, features(observation.record))
        self._retired.update(snapshot.retired_keys)
        states = self._scorer.states
        for learned in snapshot.learned:
            state = states.get(learned.field)
            if state is None or len(learned.counts) != len(state.counts):
                raise IdentityError(f"the snapshot's {learned.field} levels do not fit")
            for level, count in enumerate(learned.counts):
                if count:
                    state.learn(level, count)

    def _id(self, person_key: str) -> int:
        person = self._by_key.get(person_key)
        if person is None:
            raise IdentityError(f"no person has key {person_key}")
        return person

    def _person(self, person_key: str) -> _Person:
        return self._persons[self._id(person_key)]

    def _start(self, link: Link) -> int:
        """A new person keyed after the link that starts it (never reusing a key)."""
        attempt = 0
        key = self._keys.derive(link)
        while key in self._by_key or key in self._retired:
            attempt += 1
            key = self._keys.derive(link, attempt)
        return self._add_person(key)

    def _add_person(self, key: str) -> int:
        person = self._next
        self._next += 1
        self._persons[person] = _Person(key)
        self._by_key[key] = person
        self._scorer.count_persons(1)
        return person

    def _detach(self, person_id: int, person: _Person) -> None:
        """Drop a person's blocking keys and NHS numbers from the indexes."""
        self._index.remove(person.blocking_keys, person_id)
        for key in person.blocking_keys:
            if key.startswith(HOME_KEY):
                self._scorer.count_home(key, -1)
        for number in person.profile.nhs:
            if self._nhs.get(number) == person_id:
                del self._nhs[number]

    def _take(
        self,
        person: int,
        record: IdentityRecord,
        found: Features,
        keys: list[str] | None = None,
    ) -> None:
        """Take a new record into a person and into the field frequencies."""
        self._taken += 1
        self._scorer.observe(found)
        self._attach(person, record, found, keys)

    def _attach(
        self,
        person_id: int,
        record: IdentityRecord,
        found: Features,
        keys: list[str] | None = None,
    ) -> None:
        """Make a record part of a person: its link, values, NHS number and blocking keys."""
        person = self._persons[person_id]
        person.records.append(record)
        person.profile.add(found, self.config.values_per_field)
        self._links[record.link] = person_id
        if found.nhs:
            self._nhs.setdefault(found.nhs, person_id)
        fresh = [
            key
            for key in (blocking_keys(found) if keys is None else keys)
            if key not in person.blocking_keys
        ]
        person.blocking_keys.update(fresh)
        self._index.add(fresh, person_id)
        for key in fresh:
            if key.startswith(HOME_KEY):
                self._scorer.count_home(key, 1)
