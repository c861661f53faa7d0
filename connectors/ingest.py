"""The ingest path every connector shares: validate, check, encode, publish, remember.

For each submitted item: parse it against its contract (invalid: every field named, and
the original bytes dead-lettered); check it is the submitting agency's own (forbidden);
look its event id up in the ledger (the same body again is a repeat, accepted and not
published twice; another body is a conflict, dead-lettered); encode and publish the rest,
and report them accepted only once the broker has acknowledged them and the ledger holds
them. One batch, one round trip to the ledger and one flush.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
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


@dataclass
class _Batch:
    kind: EventKind
    agency: str
    connector: str
    outcomes: list[Outcome | None]
    sends: list[tuple[int, AcceptedEvent, Delivery]] = field(default_factory=list)
    dead: list[Delivery] = field(default_factory=list)


class Ingest:
    """Takes batches of submissions of one kind from one agency through one connector."""

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
        self._codec = codec
        self._topics = topics
        #: Where accepted events and dead letters are published.
        self.sink = sink
        self._ledger = ledger
        self.metrics = metrics or IngestMetrics()
        self._ack_timeout = ack_timeout

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
        return self._settle(batch, errors)

    async def accept_async(
        self, kind: EventKind, items: Sequence[Submission], *, agency: str, connector: str
    ) -> list[Outcome]:
        """Take ``items`` from a coroutine; the event loop is never blocked on the broker."""
        batch = self._submit(kind, items, agency, connector)
        errors = await delivered([delivery for _, _, delivery in batch.sends] + batch.dead)
        return self._settle(batch, errors)

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
            if (self._ledger and valid)
            else {}
        )
        for index, event, fingerprint in valid:
            seen = known.get(event.event_id)
            if seen == fingerprint:
                batch.outcomes[index] = Outcome(Status.REPEAT, event.event_id)
                continue
            if seen is not None:
                self._reject(batch, index, items[index], Outcome(Status.CONFLICT, event.event_id))
                continue
            known[event.event_id] = fingerprint
            batch.sends.append((index, *self._send(batch, event, fingerprint)))
        return batch

    def _send(
        self, batch: _Batch, event: AgencyEvent, fingerprint: str
    ) -> tuple[AcceptedEvent, Delivery]:
        topic = self._topics.source(batch.kind)
        key = f"{event.agency}:{event.person.local_id}".encode()
        value = self._codec.encode(event)
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
        return accepted, self.sink.add(topic, key, value)

    def _reject(self, batch: _Batch, index: int, item: Submission, outcome: Outcome) -> None:
        """Answer ``outcome`` and dead-letter the item's original bytes."""
        batch.outcomes[index] = outcome
        self._count_rejected(batch, outcome.status)
        detail = "; ".join(f"{error.loc}: {error.msg}" for error in outcome.errors)
        letter = DeadLetter(
            source_topic=self._topics.source(batch.kind),
            source_partition=-1,
            source_offset=item.position,
            connector=batch.connector,
            error_class=InvalidEventError.__name__ if outcome.errors else "ConflictingEventError",
            error_message=f"{outcome.status}: {detail or 'event id accepted with another body'}",
            attempts=item.previous.attempts + 1 if item.previous else 1,
            first_failure=item.previous.first_failure if item.previous else datetime.now(UTC),
        )
        batch.dead.append(
            self.sink.add(self._topics.dead_letters, b"", item.raw, letter.headers())
        )
        self.metrics.dead_lettered.labels(batch.agency, batch.kind.value, batch.connector).inc()

    def _settle(self, batch: _Batch, errors: Sequence[BaseException | None]) -> list[Outcome]:
        """Record what the broker acknowledged and answer every item."""
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
        if self._ledger and acknowledged:
            self._ledger.record(acknowledged)
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
