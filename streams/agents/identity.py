"""The identity agent: every accepted event resolved to a pseudonymous person key.

It reads the identity queue, which has one partition so that one matcher sees every person
(matching against half of them would split people in two). Each event's person reference
goes through the matcher; what the matcher learns is written to the identity store before
anything is emitted, so a replay after a crash finds the same links and gives the same
keys. Each event then goes on to the person-events topic, keyed by person key, with its
identifiers removed: they stay in the identity store and nowhere else.

An ErasureRequest makes the matcher forget the person it names (every link, every record)
and the store erase them (identity, journal and accepted payloads) in one transaction that
also records the erasure; then it goes on, keyed by the erased key, for the views to drop
the person. Events before it in a batch are resolved and stored first, so nothing of the
person is written after it. Redelivered after a crash, it finds its record and goes on
again under the same key.

An IdentityDecision (an engineer's merge or split, put on the queue by the review API so that
it falls in order between the events) moves links from one key to another in the matcher.
The views cannot subtract what they folded, so the person the links left is reset (a
PersonReset on person-events drops their view) and the journal's events of the person's
remaining links, and of the moved links, are replayed under the keys they now belong to,
marked with the ``replayed-by`` header so that places note the person's needs again without
counting the events twice. Only once the broker holds all of it is the decision carried out in
the store (observations re-keyed, a merged-away key retired, the review settled) and recorded
with the replayed event ids: a crash before that replays the decision whole, one after finds
it done. A replayed event still waiting on the queue (journaled but not yet resolved when
the decision came) is not sent to the views again when it comes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import AvroCodec
from schemas.errors import MalformedEventError
from schemas.models import (
    AgencyEvent,
    ErasureRequest,
    IdentityDecision,
    IdentityDecisionKind,
    PersonEvent,
    PersonReset,
)
from streams.app import BackboneApp
from streams.headers import REPLAYED_BY
from streams.identity import IdentityRecord, Matcher
from streams.identity.errors import IdentityError
from streams.identity.matcher import Observation, Rekey
from streams.identity.records import Link
from streams.intake import DeadLetters
from streams.store.decisions import Decisions
from streams.store.erasure import Erasures
from streams.store.identity import IdentityStore
from streams.store.journal import EventJournal
from streams.stored import until_stored

log = logging.getLogger(__name__)


def identity_record(event: AgencyEvent) -> IdentityRecord:
    """The identifying part of an event's person reference."""
    person = event.person
    return IdentityRecord(
        event.agency,
        person.local_id,
        person.given_name,
        person.family_name,
        person.birth_date.isoformat() if person.birth_date else None,
        person.address,
        person.postcode,
        person.nhs_number,
    )


@dataclass
class _Resolved:
    events: list[PersonEvent] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    reviews: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)


def resolve(matcher: Matcher, events: Sequence[AgencyEvent]) -> _Resolved:
    """Resolve ``events`` in order: the person events, and what the store must keep."""
    resolved = _Resolved()
    for event in events:
        record = identity_record(event)
        resolution = matcher.resolve(record)
        if resolution.observed:
            resolved.observations.append(Observation(resolution.person_key, record))
        if resolution.outcome == "review":
            candidates = [(c.person_key, c.score) for c in resolution.candidates]
            resolved.reviews.append((resolution.person_key, candidates))
        resolved.events.append(PersonEvent.of(resolution.person_key, event))
    return resolved


def _persist(identities: IdentityStore, resolved: _Resolved) -> None:
    identities.append(resolved.observations)
    for person_key, candidates in resolved.reviews:
        identities.add_review(person_key, candidates)


@dataclass(frozen=True)
class IdentityStores:
    """The store's parts the identity agent writes and reads."""

    identities: IdentityStore
    erasures: Erasures
    decisions: Decisions
    journal: EventJournal


class _Identity:
    """The agent's steps over its matcher and stores."""

    def __init__(
        self, codec: AvroCodec, matcher: Matcher, stores: IdentityStores, person_events: Any
    ) -> None:
        self._codec = codec
        self._matcher = matcher
        self._stores = stores
        self._person_events = person_events
        self._replayed = stores.decisions.replayed()

    async def process(self, events: Sequence[AgencyEvent | IdentityDecision]) -> int:
        """Resolve ``events`` in order, erasures and decisions where they fall; returns how
        many went on."""
        sent, pending = 0, list[AgencyEvent]()
        for event in events:
            if isinstance(event, ErasureRequest | IdentityDecision):
                sent += await self._resolve(pending)
                pending = []
                if isinstance(event, ErasureRequest):
                    sent += await self._erase(event)
                else:
                    sent += await self._decide(event)
            else:
                pending.append(event)
        return sent + await self._resolve(pending)

    async def _resolve(self, events: Sequence[AgencyEvent]) -> int:
        resolved = resolve(self._matcher, events)
        await until_stored("identity store write", _persist, self._stores.identities, resolved)
        onward = [pe for pe in resolved.events if pe.event.event_id not in self._replayed]
        for person_event in onward:
            await self._send(person_event.person_key, person_event)
        return len(onward)

    async def _erase(self, request: ErasureRequest) -> int:
        erasures = self._stores.erasures
        done = await until_stored("erasure look-up", erasures.erased_key, request.event_id)
        if done is not None:
            person_key = done.person_key
        else:
            link = (request.agency, request.person.local_id)
            person_key = self._matcher.person_key(link)
            links = self._matcher.forget(person_key) if person_key else (link,)
            await until_stored("erasure", erasures.erase, request.event_id, person_key, links)
        if person_key is None:
            log.info("an erasure request named a link nobody had; its own record is scrubbed")
            return 0
        await self._send(person_key, PersonEvent.of(person_key, request))
        return 1

    async def _decide(self, decision: IdentityDecision) -> int:
        """Carry out an engineer's merge or split once; returns how many messages went on."""
        decisions = self._stores.decisions
        done = await until_stored("decision look-up", decisions.outcome, decision.decision_id)
        if done is not None and done.status != "pending":
            return 0
        try:
            rekey = self._rekey(decision)
        except IdentityError as exc:
            log.warning("an identity decision was refused: %s", exc)
            await until_stored("decision refusal", decisions.rejected, decision, str(exc))
            return 0
        split = decision.kind is IdentityDecisionKind.SPLIT
        remaining = self._matcher.links(rekey.old_key) if split else ()
        replays = await until_stored("journal read", self._replays, rekey, remaining)
        reset = PersonReset(
            person_key=rekey.old_key,
            decision_id=decision.decision_id,
            decided_at=decision.decided_at,
        )
        header = [(REPLAYED_BY, str(decision.decision_id).encode())]
        delivered = [await self._send(rekey.old_key, reset)]
        for person_event in replays:
            delivered.append(await self._send(person_event.person_key, person_event, header))
        await asyncio.gather(*delivered)
        replayed = [person_event.event.event_id for person_event in replays]
        await until_stored("decision", decisions.applied, decision, rekey, replayed)
        self._replayed.update(replayed)
        return len(delivered)

    def _rekey(self, decision: IdentityDecision) -> Rekey:
        if decision.kind is IdentityDecisionKind.MERGE:
            if decision.into is None:  # the contract refuses this; mypy cannot know
                raise IdentityError("a merge names the person kept")
            return self._matcher.merge(decision.into, decision.person_key)
        links = [(link.agency, link.local_id) for link in decision.links]
        return self._matcher.split(decision.person_key, links)

    def _replays(self, rekey: Rekey, remaining: Sequence[Link]) -> list[PersonEvent]:
        """The journal's events of the ``remaining`` links of the person the links left and
        of the moved links, each under the key it now belongs to."""
        replays = []
        for key, links in ((rekey.old_key, remaining), (rekey.new_key, rekey.links)):
            for entry in self._stores.journal.of_links(links):
                event = entry.event()
                if not isinstance(event, ErasureRequest):
                    replays.append(PersonEvent.of(key, event))
        return replays

    async def _send(
        self,
        person_key: str,
        message: PersonEvent | PersonReset,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Any:
        """Queue ``message`` for person-events; returns the future of its delivery."""
        return await self._person_events.send(
            key=person_key.encode(), value=self._codec.encode(message), headers=headers
        )


def register(
    app: BackboneApp,
    *,
    codec: AvroCodec,
    matcher: Matcher,
    stores: IdentityStores,
    person_events: Any,
    dead_letters: DeadLetters,
) -> Any:
    """Add the identity agent to ``app``; ``matcher`` must hold the store's snapshot."""
    queue = app.raw_topic(app.topics_config.identity_queue)
    steps = _Identity(codec, matcher, stores, person_events)

    async def identity(batch: Sequence[Any]) -> int:
        events: list[AgencyEvent | IdentityDecision] = []
        for event in batch:
            try:
                decoded = codec.decode(event.message.value)
                if not isinstance(decoded, AgencyEvent | IdentityDecision):
                    raise MalformedEventError(
                        "unexpected_record",
                        f"{type(decoded).__name__} is no agency event or identity decision",
                    )
            except MalformedEventError as exc:
                await dead_letters.send(event.message, exc)
                continue
            events.append(decoded)
        return await steps.process(events)

    return app.batch_agent(queue, "identity", identity)


def restored_matcher(secret: bytes, identities: IdentityStore) -> Matcher:
    """A matcher holding everything the identity store knows."""
    matcher = Matcher(secret)
    matcher.restore(identities.snapshot())
    return matcher
