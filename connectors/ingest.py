"""The ingest path every connector shares: validate, check, encode, publish, remember.

For each submitted item: parse it against its contract (invalid: every field named, and
the original bytes dead-lettered); check it is the submitting agency's own (forbidden);
look its event id up in the ledger and among the events in flight (the same body again is
a repeat, answered as its first copy fares and never published twice; another body is a
conflict, dead-lettered); encode and publish the rest, and report them accepted only once
the broker has acknowledged them and the ledger holds them. One batch, one round trip to
the ledger and one flush.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from connectors.base import Delivery, EventSink, delivered
from connectors.errors import FieldError, InvalidEventError, PublishError
from connectors.ledger import AcceptedEvent, Ledger
from connectors.metrics import IngestMetrics
from connectors.validation import parse_event
from schemas.codec import AvroCodec
from schemas.deadletter import DeadLetter
from schemas.errors import SchemaRegistryError
from schemas.models import AgencyEvent
from schemas.topics import EventKind, Topics

log = logging.getLogger(__name__)


class Status(StrEnum):
    """What became of one submitted item."""

    ACCEPTED = "accepted"
    REPEAT = "repeat"
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Outcome:
    """The answer for one item; ``errors`` name the fields of an invalid one."""

    status: Status
    event_id: UUID | None = None
    errors: tuple[FieldError, ...] = ()

    @property
    def accepted(self) -> bool:
        """Whether the event is (now or already) durably accepted."""
        return self.status in {Status.ACCEPTED, Status.REPEAT}


@dataclass(frozen=True)
class Submission:
    """One item as a connector received it.

    ``body`` is JSON text or an already-parsed mapping (a CSV row); ``raw`` the bytes as
    they came, which a dead letter carries untouched; ``position`` where it came from
    (a line of a file, a row of an outbox), or -1.
    """

    body: bytes | str | Mapping[str, Any]
    raw: bytes
    position: int = -1
    #: When it is a dead letter being replayed: its earlier failure, to count attempts.
    previous: DeadLetter | None = None


@dataclass(frozen=True)
class _Flight:
    """An event being published: its fingerprint, and whether the broker took it."""

    fingerprint: str
    accepted: Future[bool]


@dataclass
class _Batch:
    kind: EventKind
    agency: str
    connector: str
    outcomes: list[Outcome | None]
    #: Items this batch publishes: position, what the ledger will keep, the delivery.
    sends: list[tuple[int, AcceptedEvent, Delivery]] = field(default_factory=list)
    #: Repeats of events in flight (here or in a concurrent batch): they share their fate.
    waits: list[tuple[int, UUID, _Flight]] = field(default_factory=list)
    dead: list[Delivery] = field(default_factory=list)


class Ingest:
    """Takes batches of submissions of one kind from one agency through one connector.

    Safe to use from several threads and coroutines at once: an event id in flight is
    published by one caller only, and the others learn its fate.
    """

    def __init__(
        self,
        codec: AvroCodec,
        topics: Topics,
        sink: EventSink,
        *,
        ledger: Ledger | None = None,
        metrics: IngestMetrics | None = None,
        ack_timeout: float = 30.0,
    ) -> None:
        #: The Avro codec events are encoded with.
        self.codec = codec
        #: The topic names events and dead letters are published under.
        self.topics = topics
        #: Where accepted events and dead letters are published.
        self.sink = sink
        self._ledger = ledger
        self.metrics = metrics or IngestMetrics()
        self._ack_timeout = ack_timeout
        self._lock = threading.Lock()
        self._in_flight: dict[UUID, _Flight] = {}

    def close(self) -> None:
        """Send what is pending and release the producer."""
        self.sink.close()

    def accept(
        self, kind: EventKind, items: Sequence[Submission], *, agency: str, connector: str
    ) -> list[Outcome]:
        """Take ``items``, blocking until every accepted one is durable."""
        batch = self._submit(kind, items, agency, connector)
        self.sink.flush(self._ack_timeout)
        errors: list[BaseException | None] = []
        for delivery in [delivery for _, _, delivery in batch.sends] + batch.dead:
            try:
                delivery.result(self._ack_timeout)
                errors.append(None)
            except PublishError as exc:
                errors.append(exc)
        self._settle(batch, errors)
        for index, event_id, flight in batch.waits:
            self._resolve_wait(
                batch, index, event_id, flight.accepted.result(self._ack_timeout * 2)
            )
        return self._answer(batch)

    async def accept_async(
        self, kind: EventKind, items: Sequence[Submission], *, agency: str, connector: str
    ) -> list[Outcome]:
        """Take ``items`` from a coroutine: blocking work (ledger, producer) runs in a thread."""
        batch = await asyncio.to_thread(self._submit, kind, items, agency, connector)
        sent = [delivery for _, _, delivery in batch.sends] + batch.dead
        errors = await asyncio.wait_for(delivered(sent), self._ack_timeout)
        await asyncio.to_thread(self._settle, batch, errors)
        for index, event_id, flight in batch.waits:
            accepted = await asyncio.wait_for(
                asyncio.wrap_future(flight.accepted), self._ack_timeout * 2
            )
            self._resolve_wait(batch, index, event_id, accepted)
        return self._answer(batch)

    def _submit(
        self, kind: EventKind, items: Sequence[Submission], agency: str, connector: str
    ) -> _Batch:
        batch = _Batch(kind, agency, connector, [None] * len(items))
        valid: list[tuple[int, AgencyEvent, str]] = []
        for index, item in enumerate(items):
            try:
                event = parse_event(kind, item.body)
            except InvalidEventError as exc:
                self._reject(batch, index, item, Outcome(Status.INVALID, None, tuple(exc.errors)))
                continue
            if event.agency != agency:
                batch.outcomes[index] = Outcome(Status.FORBIDDEN, event.event_id)
                self._count_rejected(batch, Status.FORBIDDEN)
                continue
            valid.append((index, event, _fingerprint(event)))
        known = (
            self._ledger.fingerprints({event.event_id for _, event, _ in valid})
            if self._ledger and valid
            else {}
        )
        fresh = self._claim(batch, items, valid, known)
        for index, event, fingerprint in fresh:
            self._send(batch, index, event, fingerprint)
        return batch

    def _claim(
        self,
        batch: _Batch,
        items: Sequence[Submission],
        valid: list[tuple[int, AgencyEvent, str]],
        known: dict[UUID, str],
    ) -> list[tuple[int, AgencyEvent, str]]:
        """Sort valid items into repeats, conflicts and events this batch will publish."""
        fresh: list[tuple[int, AgencyEvent, str]] = []
        with self._lock:
            for index, event, fingerprint in valid:
                flight = self._in_flight.get(event.event_id)
                seen = known.get(event.event_id, flight.fingerprint if flight else None)
                if seen is not None and seen != fingerprint:
                    outcome = Outcome(Status.CONFLICT, event.event_id)
                    self._reject(batch, index, items[index], outcome)
                elif flight is not None:
                    batch.waits.append((index, event.event_id, flight))
                elif seen is not None:
                    batch.outcomes[index] = Outcome(Status.REPEAT, event.event_id)
                else:
                    self._in_flight[event.event_id] = _Flight(fingerprint, Future())
                    fresh.append((index, event, fingerprint))
        return fresh

    def _send(self, batch: _Batch, index: int, event: AgencyEvent, fingerprint: str) -> None:
        topic = self.topics.source(batch.kind)
        key = f"{event.agency}:{event.person.local_id}".encode()
        try:
            value = self.codec.encode(event)
            delivery = self.sink.add(topic, key, value)
        except (PublishError, SchemaRegistryError) as exc:
            log.error("event not sent: %s", exc)
            batch.outcomes[index] = Outcome(Status.UNAVAILABLE, event.event_id)
            self._count_rejected(batch, Status.UNAVAILABLE)
            self._land(event.event_id, accepted=False)
            return
        accepted = AcceptedEvent(
            event.event_id,
            batch.kind.value,
            batch.agency,
            batch.connector,
            fingerprint,
            topic,
            key,
            value,
        )
        batch.sends.append((index, accepted, delivery))

    def _reject(self, batch: _Batch, index: int, item: Submission, outcome: Outcome) -> None:
        """Answer ``outcome`` and dead-letter the item's original bytes."""
        batch.outcomes[index] = outcome
        self._count_rejected(batch, outcome.status)
        detail = "; ".join(f"{error.loc}: {error.msg}" for error in outcome.errors)
        message = f"{outcome.status}: {detail or 'event id accepted with another body'}"
        error_class = InvalidEventError.__name__ if outcome.errors else "ConflictingEventError"
        source = self.topics.source(batch.kind)
        dead = self._send_letter(source, item, batch.connector, error_class, message)
        if dead is not None:
            batch.dead.append(dead)
            self.metrics.dead_lettered.labels(batch.agency, batch.kind.value, batch.connector).inc()

    def dead_letter(
        self, item: Submission, *, source: str, agency: str, connector: str, why: FieldError
    ) -> None:
        """Dead-letter bytes that never became an event of any kind (an unknown kind, say).

        ``source`` says where they came from (e.g. ``outbox:cases.outbox``); blocks until
        the broker has the letter.
        """
        message = f"{Status.INVALID}: {why.loc}: {why.msg}"
        dead = self._send_letter(source, item, connector, InvalidEventError.__name__, message)
        if dead is not None:
            dead.result(self._ack_timeout)
            self.metrics.dead_lettered.labels(agency, "(unknown)", connector).inc()

    def _send_letter(
        self, source: str, item: Submission, connector: str, error_class: str, message: str
    ) -> Delivery | None:
        letter = DeadLetter(
            source_topic=source,
            source_partition=-1,
            source_offset=item.position,
            connector=connector,
            error_class=error_class,
            error_message=message,
            attempts=item.previous.attempts + 1 if item.previous else 1,
            first_failure=item.previous.first_failure if item.previous else datetime.now(UTC),
        )
        try:
            return self.sink.add(self.topics.dead_letters, b"", item.raw, letter.headers())
        except PublishError as exc:
            log.error("dead letter not sent: %s", exc)
            return None

    def _settle(self, batch: _Batch, errors: Sequence[BaseException | None]) -> None:
        """Record what the broker acknowledged, then tell waiting repeats how it went."""
        acknowledged: list[AcceptedEvent] = []
        for (index, accepted, _), error in zip(batch.sends, errors, strict=False):
            if error is None:
                acknowledged.append(accepted)
                batch.outcomes[index] = Outcome(Status.ACCEPTED, accepted.event_id)
            else:
                log.error("event not acknowledged: %s", error)
                batch.outcomes[index] = Outcome(Status.UNAVAILABLE, accepted.event_id)
                self._count_rejected(batch, Status.UNAVAILABLE)
        for error in errors[len(batch.sends) :]:
            if error is not None:
                log.error("dead letter not acknowledged: %s", error)
        try:
            if self._ledger and acknowledged:
                self._ledger.record(acknowledged)
        finally:
            recorded = {event.event_id for event in acknowledged}
            for _, accepted, _ in batch.sends:
                self._land(accepted.event_id, accepted=accepted.event_id in recorded)

    def _land(self, event_id: UUID, *, accepted: bool) -> None:
        with self._lock:
            flight = self._in_flight.pop(event_id, None)
        if flight is not None:
            flight.accepted.set_result(accepted)

    def _resolve_wait(self, batch: _Batch, index: int, event_id: UUID, accepted: bool) -> None:
        """A repeat of an event that was in flight fares as its first copy did."""
        batch.outcomes[index] = Outcome(Status.REPEAT if accepted else Status.UNAVAILABLE, event_id)
        if not accepted:
            self._count_rejected(batch, Status.UNAVAILABLE)

    def _answer(self, batch: _Batch) -> list[Outcome]:
        outcomes = [outcome for outcome in batch.outcomes if outcome is not None]
        for outcome in outcomes:
            if outcome.accepted:
                self.metrics.accepted.labels(
                    batch.agency,
                    batch.kind.value,
                    batch.connector,
                    str(outcome.status == Status.REPEAT).lower(),
                ).inc()
        return outcomes

    def _count_rejected(self, batch: _Batch, reason: Status) -> None:
        self.metrics.rejected.labels(batch.agency, batch.kind.value, batch.connector, reason).inc()


def _fingerprint(event: AgencyEvent) -> str:
    """The same for the same event however it was written (key order, offsets, spacing)."""
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()
