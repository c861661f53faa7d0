"""The accepted-events ledger: what the backbone has accepted, by event id.

It makes ingest idempotent (the same event id with the same body is accepted again with
nothing published twice) and catches conflicts (the same id with another body). It also
keeps each accepted event's bytes, so what was accepted outlives a memory-only broker.
The backbone's store implements it; connectors only need this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class AcceptedEvent:
    """An event the broker acknowledged, as the ledger keeps it."""

    event_id: UUID
    kind: str
    agency: str
    connector: str
    #: SHA-256 of the event's normalised JSON: equal for the same event however it was sent.
    fingerprint: str
    topic: str
    key: bytes
    #: The message as published (Confluent wire format), to publish again if it is lost.
    payload: bytes


class Ledger(ABC):
    """Durable memory of accepted events."""

    @abstractmethod
    def fingerprints(self, event_ids: Collection[UUID]) -> dict[UUID, str]:
        """The fingerprint of each of ``event_ids`` already accepted."""

    @abstractmethod
    def record(self, accepted: Sequence[AcceptedEvent]) -> None:
        """Remember ``accepted`` (idempotently: an id already known is left as it is)."""
