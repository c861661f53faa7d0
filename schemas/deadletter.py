"""The dead-letter contract: the original bytes, untouched, and headers saying what failed.

Anything that fails validation or decoding anywhere in the backbone is published to the
dead-letter topic with these headers, so an integration engineer can see where it came
from and why, fix the cause, and replay it. Messages never carry field values: error
messages name the field path and the reason only (the values may be personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

_PREFIX = "backbone.dlq."
_MAX_MESSAGE = 1000


@dataclass(frozen=True)
class DeadLetter:
    """Why and where a message failed; the message's own bytes travel as the value."""

    source_topic: str
    source_partition: int
    source_offset: int
    connector: str
    error_class: str
    error_message: str
    schema_id: int | None = None
    attempts: int = 1
    first_failure: datetime | None = None

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers for this dead letter."""
        first = self.first_failure or datetime.now(UTC)
        fields: dict[str, str] = {
            "source.topic": self.source_topic,
            "source.partition": str(self.source_partition),
            "source.offset": str(self.source_offset),
            "connector": self.connector,
            "error.class": self.error_class,
            "error.message": self.error_message[:_MAX_MESSAGE],
            "schema.id": "" if self.schema_id is None else str(self.schema_id),
            "attempts": str(self.attempts),
            "first.failure": first.isoformat(),
        }
        return [(_PREFIX + name, value.encode()) for name, value in fields.items()]

    @classmethod
    def from_headers(cls, headers: list[tuple[str, bytes]]) -> DeadLetter:
        """Read the headers written by :meth:`headers` (others are ignored)."""
        values = {
            name.removeprefix(_PREFIX): raw.decode()
            for name, raw in headers
            if name.startswith(_PREFIX)
        }
        schema_id = values.get("schema.id", "")
        return cls(
            source_topic=values["source.topic"],
            source_partition=int(values["source.partition"]),
            source_offset=int(values["source.offset"]),
            connector=values["connector"],
            error_class=values["error.class"],
            error_message=values["error.message"],
            schema_id=int(schema_id) if schema_id else None,
            attempts=int(values["attempts"]),
            first_failure=datetime.fromisoformat(values["first.failure"]),
        )
