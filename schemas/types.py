"""Interfaces of the contracts package, apart from their implementations (as in faust.types).

Code that only needs a schema registry depends on :class:`SchemaRegistry`, so that a test or a
developer machine can use the embedded one and production the Confluent-compatible one.
"""

from __future__ import annotations

import abc


def record_subject(record_full_name: str) -> str:
    """The registry subject of a record: its Avro full name (RecordNameStrategy).

    Subjects named after topics (TopicNameStrategy) would allow one record type per topic.
    That holds for the source topics today, but the dead-letter topic and future topics carry
    several record types, and a record keeps one evolution history wherever it travels.
    """
    return record_full_name


class SchemaRegistry(abc.ABC):
    """Gives every schema text an id that travels in each message instead of the schema.

    Each subject keeps the texts registered under it in order, as versions, so that a new
    schema can be checked against the data every earlier version wrote.
    """

    @abc.abstractmethod
    def register(self, subject: str, schema_text: str) -> int:
        """The id of ``schema_text``, added as the subject's next version if it is new.

        Idempotent: the same text under the same subject returns the same id and adds no
        version, so every producer may register on start-up.
        """

    @abc.abstractmethod
    def schema(self, schema_id: int) -> str:
        """The schema text registered under ``schema_id``.

        Raises :class:`~schemas.errors.SchemaNotFoundError` when the id is unknown, and
        :class:`~schemas.errors.SchemaRegistryError` when the registry cannot answer.
        """

    @abc.abstractmethod
    def versions(self, subject: str) -> list[str]:
        """The subject's schema texts in registration order; empty for an unknown subject."""

    def close(self) -> None:  # noqa: B027 reason: a hook most registries need not override
        """Release connections; the default holds none."""
