"""Contact events as agency systems export them (CSV rows, JSON lines, outbox payloads),
and where the connector tests look for what was published."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from connectors.ingest import Ingest
from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.models import AgencyEvent
from schemas.registry import EmbeddedSchemaRegistry
from schemas.topics import Topics
from tests.fixtures.connectors import MemoryLedger, MemorySink
from tests.samples import sample_contact

AGENCY = "nhs-trust"
CSV_HEADER = [
    "event_id",
    "occurred_at",
    "person.local_id",
    "person.given_name",
    "place.place_id",
    "team",
    "channel",
    "outcome",
    "needs_observed",
]


def event_id(n: int) -> UUID:
    """The id of the ``n``-th test event."""
    return UUID(int=10_000 + n)


def contact_body(n: int, **changes: Any) -> dict[str, Any]:
    """The ``n``-th contact as the HTTP API takes it, with ``changes``."""
    body: dict[str, Any] = json.loads(sample_contact().model_dump_json())
    body["event_id"] = str(event_id(n))
    body["person"]["local_id"] = f"person-{n}"
    body.update(changes)
    return body


def csv_row(n: int, **changes: str) -> list[str]:
    """The ``n``-th contact as a row under :data:`CSV_HEADER` (no agency column)."""
    cells = {
        "event_id": str(event_id(n)),
        "occurred_at": "2024-06-03T09:00:00+01:00",
        "person.local_id": f"person-{n}",
        "person.given_name": "Ada",
        "place.place_id": "E01000001",
        "team": "district-nursing",
        "channel": "visit",
        "outcome": "no_answer",
        "needs_observed": "loneliness;food",
        **changes,
    }
    return [cells[name] for name in CSV_HEADER]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = CSV_HEADER) -> Path:
    """A CSV file as spreadsheets write it (CRLF line ends)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_topic(
    bootstrap: str, topic: str, expected: int, idle: float = 1.0, wait: float = 30.0
) -> list[ConsumerRecord]:
    """Every message on ``topic``: at least ``expected`` unless ``wait`` runs out, then any
    more that arrive before the topic stays quiet for ``idle`` seconds (duplicates show)."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    found: list[ConsumerRecord] = []
    deadline = time.monotonic() + wait
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=100)
            records = [record for batch in polled.values() for record in batch]
            found.extend(records)
            if records:
                quiet_since = time.monotonic()
            elif len(found) >= expected and time.monotonic() - quiet_since > idle:
                break
    finally:
        consumer.close()
    return found


@dataclass
class InMemory:
    """The shared ingest over an in-memory sink and ledger, and the codec to read back with."""

    topics: Topics
    codec: AvroCodec
    sink: MemorySink = field(default_factory=MemorySink)

    def __post_init__(self) -> None:
        self.ingest = Ingest(self.codec, self.topics, self.sink, ledger=MemoryLedger())

    @classmethod
    def at(cls, folder: Path, topics: Topics) -> InMemory:
        """One whose schema registry lives in ``folder``."""
        return cls(
            topics, AvroCodec(EmbeddedSchemaRegistry(folder / "schemas.sqlite"), Catalog.load())
        )

    def published_ids(self) -> list[UUID]:
        """The event ids published to source topics, in the order they were sent."""
        found = []
        for message in self.sink.sent:
            if message.topic != self.topics.dead_letters:
                event = self.codec.decode(message.value)
                assert isinstance(event, AgencyEvent)
                found.append(event.event_id)
        return found
