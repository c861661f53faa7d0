"""The Python SDK for agency developers: publish events with no Kafka knowledge.

    from connectors import Publisher
    from schemas.models import Contact

    with Publisher(agency="council", bootstrap_servers=["kafka-1:9092"]) as publisher:
        event_id = publisher.contact(Contact(...))          # one event: durable on return
        outcomes = publisher.publish_many([contact, referral, ...])  # a batch, per-item answers

Topics, keys, Avro and the schema registry are the SDK's business. Each event goes through
the same ingest path as every other connector: validated against its contract, encoded,
published with ``acks=all``, and only reported once the broker has acknowledged it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID

from pydantic import BaseModel, SecretStr

from connectors.base import EventSink
from connectors.errors import ConnectorError, FieldError, InvalidEventError, PublishError
from connectors.ingest import Ingest, Outcome, Status, Submission
from connectors.ledger import Ledger
from connectors.producer import KafkaSink, ProducerSettings
from schemas.codec import AvroCodec
from schemas.models import (
    MODEL_OF_KIND,
    AgencyEvent,
    ConsentChange,
    Contact,
    ErasureRequest,
    HandoffUpdate,
    Referral,
    VolunteerAction,
)
from schemas.registry import ConfluentSchemaRegistry, EmbeddedSchemaRegistry
from schemas.topics import EventKind, Topics

#: An event as a model, or as the mapping (e.g. parsed JSON) the HTTP API takes.
EventInput = AgencyEvent | Mapping[str, Any]


class RejectedEventError(ConnectorError):
    """The backbone refused an event: ``status`` says why (conflict, forbidden, ...)."""

    def __init__(self, status: Status, event_id: UUID | None) -> None:
        self.status = status
        self.event_id = event_id
        super().__init__(f"event {event_id} was refused: {status}")


class Publisher:
    """Publishes one agency's events to the backbone (thread-safe; a context manager)."""

    def __init__(
        self,
        agency: str,
        bootstrap_servers: Sequence[str] = (),
        *,
        topic_prefix: str = "backbone",
        registry_url: str | None = None,
        registry_username: str | None = None,
        registry_password: SecretStr | None = None,
        data_dir: Path = Path(".backbone"),
        sink: EventSink | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        """``registry_url`` names a Confluent-compatible registry; without it the embedded
        registry in ``data_dir`` is used, as ``backbone up`` does on one machine."""
        if sink is None and not bootstrap_servers:
            raise ConnectorError("give bootstrap_servers: where the backbone's Kafka listens")
        registry = (
            ConfluentSchemaRegistry(registry_url, registry_username, registry_password)
            if registry_url
            else EmbeddedSchemaRegistry(data_dir / "schemas.sqlite")
        )
        self.agency = agency
        self._ingest = Ingest(
            AvroCodec(registry),
            Topics(prefix=topic_prefix),
            sink or KafkaSink(ProducerSettings(tuple(bootstrap_servers))),
            ledger=ledger,
        )

    def referral(self, event: Referral | Mapping[str, Any]) -> UUID:
        """Publish a referral; returns its event id once durable."""
        return self._one(EventKind.REFERRAL, event)

    def contact(self, event: Contact | Mapping[str, Any]) -> UUID:
        """Publish a contact; returns its event id once durable."""
        return self._one(EventKind.CONTACT, event)

    def volunteer_action(self, event: VolunteerAction | Mapping[str, Any]) -> UUID:
        """Publish a volunteer action; returns its event id once durable."""
        return self._one(EventKind.VOLUNTEER_ACTION, event)

    def consent(self, event: ConsentChange | Mapping[str, Any]) -> UUID:
        """Publish a consent change; returns its event id once durable."""
        return self._one(EventKind.CONSENT, event)

    def handoff_update(self, event: HandoffUpdate | Mapping[str, Any]) -> UUID:
        """Publish a handoff update; returns its event id once durable."""
        return self._one(EventKind.HANDOFF_UPDATE, event)

    def erasure(self, event: ErasureRequest | Mapping[str, Any]) -> UUID:
        """Publish an erasure request; returns its event id once durable."""
        return self._one(EventKind.ERASURE, event)

    def publish_many(self, events: Iterable[AgencyEvent]) -> list[Outcome]:
        """Publish a batch of models of any kinds; one outcome per event, in order.

        Events are grouped by kind (one flush per kind), so a large batch costs a few
        round trips, not one per event. Nothing is raised for a refused event: read its
        outcome's ``status`` and ``errors``.
        """
        items = list(events)
        outcomes: list[Outcome | None] = [None] * len(items)
        by_kind: dict[EventKind, list[int]] = {}
        for index, event in enumerate(items):
            by_kind.setdefault(_kind_of(event), []).append(index)
        for kind, indexes in by_kind.items():
            answers = self._accept(kind, [items[index] for index in indexes])
            for index, answer in zip(indexes, answers, strict=True):
                outcomes[index] = answer
        return [outcome for outcome in outcomes if outcome is not None]

    def close(self) -> None:
        """Send anything pending and release the connection."""
        self._ingest.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _one(self, kind: EventKind, event: EventInput) -> UUID:
        (outcome,) = self._accept(kind, [event])
        if outcome.status == Status.INVALID:
            raise InvalidEventError(list(outcome.errors))
        if outcome.status == Status.UNAVAILABLE:
            raise PublishError(f"event {outcome.event_id} was not acknowledged by the broker")
        if not outcome.accepted or outcome.event_id is None:
            raise RejectedEventError(outcome.status, outcome.event_id)
        return outcome.event_id

    def _accept(self, kind: EventKind, events: Sequence[EventInput]) -> list[Outcome]:
        items = [_submission(kind, event) for event in events]
        return self._ingest.accept(kind, items, agency=self.agency, connector="sdk")


def _kind_of(event: AgencyEvent) -> EventKind:
    for kind, model in MODEL_OF_KIND.items():
        if type(event) is model:
            return kind
    raise InvalidEventError([FieldError("(event)", f"{type(event).__name__} is no agency event")])


def _submission(kind: EventKind, event: EventInput) -> Submission:
    if isinstance(event, BaseModel):
        if not isinstance(event, MODEL_OF_KIND[kind]):
            message = f"expected a {MODEL_OF_KIND[kind].__name__}, got {type(event).__name__}"
            raise InvalidEventError([FieldError("(event)", message)])
        raw = event.model_dump_json().encode()
        return Submission(raw, raw)
    return Submission(event, json.dumps(event, default=str, separators=(",", ":")).encode())
