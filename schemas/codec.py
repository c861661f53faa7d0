"""Models to and from Kafka message bytes in the Confluent wire format.

Byte 0 is the magic byte 0, bytes 1-4 the big-endian id of the writer's schema in the
registry, and the rest the Avro binary body. Carrying the id instead of the schema keeps
messages small and lets any consumer read data written by an older (or newer) producer.

Decoding trusts nothing: every way the bytes can be wrong ends in one
:class:`~schemas.errors.MalformedEventError`, whose message names field paths and causes but
never field values, which are personal data and would otherwise leak into logs.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from typing import TypeVar

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException
from fastavro.types import Schema
from pydantic import BaseModel, ValidationError

from schemas.catalog import Catalog, Contract
from schemas.errors import ContractError, MalformedEventError, SchemaNotFoundError
from schemas.types import SchemaRegistry, record_subject

M = TypeVar("M", bound=BaseModel)

_HEADER = struct.Struct(">BI")
_MAGIC = 0


@dataclass(frozen=True)
class _Writer:
    """What encoding one record type needs, worked out on its first message."""

    header: bytes
    schema: Schema


@dataclass(frozen=True)
class _Reader:
    """What decoding one schema id needs, worked out on its first message."""

    schema_id: int
    contract: Contract
    writer: Schema
    #: The current contract when it differs from the writer's schema; None skips resolution.
    reader: Schema | None


class AvroCodec:
    """Encodes models and decodes message bytes, caching schema ids and parsed schemas.

    Schemas are fetched and parsed once per record type and per schema id, so encoding and
    decoding do no JSON or registry work after the first message of each. Registry outages
    surface as :class:`~schemas.errors.SchemaRegistryError` (retry), never as a malformed
    message (dead-letter).
    """

    def __init__(self, registry: SchemaRegistry, catalog: Catalog | None = None) -> None:
        self._registry = registry
        self._catalog = catalog if catalog is not None else Catalog.load()
        self._writers: dict[type[BaseModel], _Writer] = {}
        self._readers: dict[int, _Reader] = {}

    def encode(self, model: BaseModel) -> bytes:
        """The message bytes for ``model``, registering its schema on first use."""
        writer = self._writers.get(type(model))
        if writer is None:
            contract = self._catalog.contract(type(model))
            schema_id = self._registry.register(record_subject(contract.name), contract.text)
            writer = self._writers[type(model)] = _Writer(
                _HEADER.pack(_MAGIC, schema_id), contract.parsed
            )
        out = io.BytesIO()
        out.write(writer.header)
        schemaless_writer(out, writer.schema, self._catalog.to_avro(model))
        return out.getvalue()

    def decode(self, data: bytes) -> BaseModel:
        """The model in ``data``, read with the current contract of its record."""
        reader = self._reader_for(data)
        return self._read(data, reader, reader.contract.model)

    def decode_as(self, data: bytes, model_type: type[M]) -> M:
        """The model in ``data``, which must be a ``model_type``; checked before the body."""
        reader = self._reader_for(data)
        if reader.contract.model is not model_type:
            raise MalformedEventError(
                "unexpected_record",
                f"expected {model_type.__name__}, got {reader.contract.name}",
                reader.schema_id,
            )
        return self._read(data, reader, model_type)

    def _reader_for(self, data: bytes) -> _Reader:
        if len(data) < _HEADER.size:
            raise MalformedEventError("short", f"{len(data)} bytes, fewer than a header")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise MalformedEventError("magic_byte", f"magic byte {magic}, expected {_MAGIC}")
        reader = self._readers.get(schema_id)
        if reader is None:
            reader = self._readers[schema_id] = self._load_reader(schema_id)
        return reader

    def _load_reader(self, schema_id: int) -> _Reader:
        try:
            text = self._registry.schema(schema_id)
        except SchemaNotFoundError as exc:
            raise MalformedEventError(
                "unknown_schema_id", f"schema id {schema_id} is not registered", schema_id
            ) from exc
        try:
            writer = parse_schema(json.loads(text))
            contract = self._catalog.contract(writer["name"] if isinstance(writer, dict) else "")
        # Anything but a schema of a record we hold a contract for: bad JSON or schema
        # (ValueError, SchemaParseException, TypeError, KeyError), or an unnamed type or a
        # record we lack (ContractError).
        except (ValueError, SchemaParseException, TypeError, KeyError, ContractError) as exc:
            raise MalformedEventError(
                "unexpected_record", f"schema id {schema_id} is no record we have", schema_id
            ) from exc
        current = None if writer == contract.parsed else contract.parsed
        return _Reader(schema_id, contract, writer, current)

    def _read(self, data: bytes, reader: _Reader, model_type: type[M]) -> M:
        """The body of ``data`` as a ``model_type``.

        Errors here are raised ``from None``, against the package's habit: their causes quote
        the body (pydantic's input values, undecodable bytes), and a logged traceback would
        carry that personal data along.
        """
        body = io.BytesIO(data)
        body.seek(_HEADER.size)
        try:
            datum = schemaless_reader(body, reader.writer, reader.reader)
        except SchemaResolutionError:
            raise self._malformed(
                "unexpected_record", reader, "cannot be read as current"
            ) from None
        # fastavro's reader raises whatever its internals hit on hostile bytes (EOFError,
        # IndexError, UnicodeDecodeError, OverflowError, ...); none is part of its API, so all
        # count. A varint cut short is an IndexError with the body used up.
        except Exception as exc:
            exhausted = body.tell() >= len(data)
            if isinstance(exc, EOFError) or (isinstance(exc, IndexError) and exhausted):
                raise self._malformed("truncated", reader, "body ends early") from None
            raise self._malformed("invalid_body", reader, type(exc).__name__) from None
        if body.tell() != len(data):
            raise self._malformed("invalid_body", reader, "bytes left after the record")
        try:
            return model_type.model_validate(datum)
        except ValidationError as exc:
            raise self._malformed("invalid_body", reader, _describe(exc)) from None

    @staticmethod
    def _malformed(reason: str, reader: _Reader, detail: str) -> MalformedEventError:
        where = f"{reader.contract.name} (schema id {reader.schema_id})"
        return MalformedEventError(reason, f"{where}: {detail}", reader.schema_id)


def _describe(exc: ValidationError) -> str:
    """Each failing field's path and pydantic's error type, e.g. ``person.local_id: too_long``.

    Pydantic's messages and inputs can quote the value, so only the type is kept.
    """
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['type']}" for error in exc.errors()
    )
