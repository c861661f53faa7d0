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
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import AvroCodec
from schemas.errors import MalformedEventError
from schemas.models import AgencyEvent, ErasureRequest, PersonEvent
from streams.app import BackboneApp
from streams.identity import IdentityRecord, Matcher
from streams.identity.matcher import Observation
from streams.intake import DeadLetters
from streams.store.erasure import Erasures
from streams.store.identity import IdentityStore
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


class _Identity:
    """The agent's steps over its matcher and stores."""

    def __init__(
        self,
        codec: AvroCodec,
        matcher: Matcher,
        identities: IdentityStore,
        erasures: Erasures,
        person_events: Any,
    ) -> None:
        self._codec = codec
        self._matcher = matcher
        self._identities = identities
        self._erasures = erasures
        self._person_events = person_events

    async def process(self, events: Sequence[AgencyEvent]) -> int:
        """Resolve ``events`` in order, erasures where they fall; returns how many went on."""
        sent, pending = 0, list[AgencyEvent]()
        for event in events:
            if isinstance(event, ErasureRequest):
                sent += await self._resolve(pending) + await self._erase(event)
                pending = []
            else:
                pending.append(event)
        return sent + await self._resolve(pending)

    async def _resolve(self, events: Sequence[AgencyEvent]) -> int:
        resolved = resolve(self._matcher, events)
        await until_stored("identity store write", _persist, self._identities, resolved)
        for person_event in resolved.events:
            await self._send(person_event)
        return len(resolved.events)

    async def _erase(self, request: ErasureRequest) -> int:
        done = await until_stored("erasure look-up", self._erasures.erased_key, request.event_id)
        if done is not None:
            person_key = done.person_key
        else:
            link = (request.agency, request.person.local_id)
            person_key = self._matcher.person_key(link)
            links = self._matcher.forget(person_key) if person_key else (link,)
            await until_stored("erasure", self._erasures.erase, request.event_id, person_key, links)
        if person_key is None:
            log.info("an erasure request named a link nobody had; its own record is scrubbed")
            return 0
        await self._send(PersonEvent.of(person_key, request))
        return 1

    async def _send(self, person_event: PersonEvent) -> None:
        await self._person_events.send(
            key=person_event.person_key.encode(), value=self._codec.encode(person_event)
        )


def register(
    app: BackboneApp,
    *,
    codec: AvroCodec,
    matcher: Matcher,
    identities: IdentityStore,
    erasures: Erasures,
    person_events: Any,
    dead_letters: DeadLetters,
) -> Any:
    """Add the identity agent to ``app``; ``matcher`` must hold the store's snapshot."""
    queue = app.raw_topic(app.topics_config.identity_queue)
    steps = _Identity(codec, matcher, identities, erasures, person_events)

    async def identity(batch: Sequence[Any]) -> int:
        events: list[AgencyEvent] = []
        for event in batch:
            try:
                decoded = codec.decode(event.message.value)
                if not isinstance(decoded, AgencyEvent):
                    raise MalformedEventError(
                        "unexpected_record", f"{type(decoded).__name__} is no agency event"
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
