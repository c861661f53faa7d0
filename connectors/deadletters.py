"""Reading the dead-letter topic, and replaying its letters once their cause is fixed.

Two kinds of letter come back differently. A letter from a stream agent (it has a real
partition and offset) holds the Avro message as it was on its source topic, so it is
published there again, with the letter's headers so that a second failure counts as a
second attempt. A letter from an ingest connector (partition -1) holds what the agency
sent, so it goes through the ingest path again: validated, encoded and published only if
it is valid now (say, after a contract gained a value it lacked).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from connectors.base import EventSink
from connectors.ingest import Ingest, Outcome, Status, Submission
from schemas.deadletter import DeadLetter
from schemas.topics import Topics

#: How long a read waits for more letters before it takes the topic as read to its end.
#: (The embedded broker reports wrong end offsets, so the end is found by going quiet.)
IDLE_MS = 1500


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter where it lies on the dead-letter topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    letter: DeadLetter

    @property
    def ref(self) -> str:
        """How a person names this letter: ``partition:offset``."""
        return f"{self.partition}:{self.offset}"

    @property
    def from_ingest(self) -> bool:
        """Whether a connector refused it (before it reached any topic)."""
        return self.letter.source_partition < 0


def read_letters(
    bootstrap: Sequence[str], topic: str, client_options: Mapping[str, Any] | None = None
) -> list[StoredLetter]:
    """Every letter on ``topic``, oldest first per partition."""
    consumer = KafkaConsumer(
        bootstrap_servers=list(bootstrap),
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=IDLE_MS,
        **(client_options or {}),
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return [
            StoredLetter(
                record.partition,
                record.offset,
                record.key,
                record.value,
                DeadLetter.from_headers(list(record.headers)),
            )
            for record in consumer
        ]
    finally:
        consumer.close()


@dataclass(frozen=True)
class Replayed:
    """What replaying one letter did."""

    letter: StoredLetter
    outcome: Outcome


def replay(
    letters: Sequence[StoredLetter], ingest: Ingest, sink: EventSink, topics: Topics
) -> list[Replayed]:
    """Publish ``letters`` again, each the way its origin calls for."""
    results: list[Replayed] = []
    for stored in letters:
        if stored.from_ingest:
            results.append(Replayed(stored, _through_ingest(stored, ingest, topics)))
        else:
            sink.add(
                stored.letter.source_topic,
                stored.key or b"",
                stored.value,
                stored.letter.headers(),
            ).result(timeout=30.0)
            results.append(Replayed(stored, Outcome(Status.ACCEPTED)))
    return results


def _through_ingest(stored: StoredLetter, ingest: Ingest, topics: Topics) -> Outcome:
    kind = topics.kind_of(stored.letter.source_topic)
    agency = _agency_in(stored.value)
    submission = Submission(stored.value, stored.value, stored.offset, previous=stored.letter)
    (outcome,) = ingest.accept(kind, [submission], agency=agency, connector="replay")
    return outcome


def _agency_in(raw: bytes) -> str:
    """The agency the body names: a replay acts for the agency that sent the event."""
    try:
        body = json.loads(raw)
    except ValueError:
        return ""
    agency = body.get("agency") if isinstance(body, dict) else None
    return agency if isinstance(agency, str) else ""
