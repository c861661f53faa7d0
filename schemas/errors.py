"""One root exception for the backbone, with typed subclasses.

Every error the backbone raises on purpose derives from :class:`BackboneError`, so a caller
can catch the family, and each subclass says which part failed. Wrapping errors are raised
``from`` the library exception that caused them.
"""

from __future__ import annotations


class BackboneError(Exception):
    """Root of every error the backbone raises on purpose."""


class ContractError(BackboneError):
    """A schema or model in ``schemas/`` is missing, malformed or inconsistent."""


class MalformedEventError(BackboneError):
    """Bytes that cannot be decoded as a backbone event.

    ``reason`` is a short machine-readable cause (``short``, ``magic_byte``,
    ``unknown_schema_id``, ``truncated``, ``invalid_body``, ``unexpected_record``) and
    ``schema_id`` the id read from the header when there was one.
    """

    def __init__(self, reason: str, message: str, schema_id: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.schema_id = schema_id


class SchemaRegistryError(BackboneError):
    """The schema registry refused a request or could not be reached."""


class IncompatibleSchemaError(BackboneError):
    """A schema change breaks compatibility with an earlier registered version."""


class ConfigError(BackboneError):
    """The configuration (YAML file or environment) is invalid."""


class BrokerError(BackboneError):
    """The Kafka broker could not be started, reached, or died."""


class SchemaNotFoundError(SchemaRegistryError):
    """The registry answered, and does not know the schema id, subject or version asked for.

    Kept apart from an unreachable registry so that a reader can tell a message naming an
    unknown schema (a bad message) from an outage (retry later).
    """
