"""Is every contract still able to read what was written before? (BACKWARD_TRANSITIVE)

Consumers read each message with the current contract, whatever producer version wrote it,
and a topic keeps data far longer than one release. So the current schema (reader) must
read data written by every registered version (writer) of its subject, not just the last.

The rules are avro's own :class:`~avro.compatibility.ReaderWriterCompatibilityChecker`, the
checker Confluent-compatible registries implement; this module only says where, in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
)
from avro.errors import AvroException

from schemas.catalog import Catalog
from schemas.types import SchemaRegistry, record_subject

_ROOT = ReaderWriterCompatibilityChecker.ROOT_REFERENCE_TOKEN
_MISSING_DEFAULT = SchemaIncompatibilityType.reader_field_missing_default_value


@dataclass(frozen=True)
class Incompatibility:
    """One reason the current schema of ``record`` cannot read a registered ``version``."""

    #: The record's full name, which is also its subject.
    record: str
    #: The registered version (1 = first) whose data the current schema cannot read.
    version: int
    #: Where, e.g. ``Referral.urgency`` or ``Handoff.context.recent_contacts[].outcome``.
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: cannot read version {self.version} of {self.record}: {self.reason}"


def check(catalog: Catalog, registry: SchemaRegistry) -> list[Incompatibility]:
    """Every way a current message schema fails to read a registered version of its subject.

    Empty when all is compatible; a record with no registered version passes.
    """
    found: list[Incompatibility] = []
    for contract in catalog.messages:
        # The catalog holds records only, so the parse is a RecordSchema.
        reader = cast(avro.schema.RecordSchema, avro.schema.parse(contract.text))
        for version, text in enumerate(registry.versions(record_subject(contract.name)), 1):
            try:
                problems = _explain(reader, avro.schema.parse(text))
            except AvroException as exc:
                problems = [(reader.name, f"the registered schema does not parse: {exc}")]
            found += [Incompatibility(contract.name, version, *problem) for problem in problems]
    return found


def register_all(catalog: Catalog, registry: SchemaRegistry) -> dict[str, int]:
    """Register every current message schema (a new version where it changed); ids by record."""
    return {c.name: registry.register(record_subject(c.name), c.text) for c in catalog.messages}


def _explain(reader: avro.schema.RecordSchema, writer: avro.schema.Schema) -> list[tuple[str, str]]:
    """The reader's incompatibilities with the writer, as (field path, reason) pairs."""
    checker = _LocatingChecker()
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    reasons = dict(checker.findings)
    # Several findings of one comparison come back unpaired. A missing default's message is
    # the field's own name, which pairs it; any others share the messages left.
    left = sorted(result.messages - checker.messages)
    for location in result.locations - reasons.keys() - {_ROOT}:
        name = _field_path(reader, location).rsplit(".", 1)[-1]
        reasons[location] = _reason(_MISSING_DEFAULT, name) if name in left else "; ".join(left)
    if not reasons:
        reasons[_ROOT] = "; ".join(sorted(result.messages))
    return sorted((_field_path(reader, where), reason) for where, reason in reasons.items())


def _reason(kind: SchemaIncompatibilityType, message: str) -> str:
    return f"{kind.value.replace('_', ' ')}: {message}"


class _LocatingChecker(ReaderWriterCompatibilityChecker):
    """avro's checker, keeping each incompatibility's location and message together.

    Two quirks of avro 1.12 would otherwise misplace findings: it restarts the location at
    the root when it looks into a writer's union (so a field made required is reported at
    "/", and a field inside it at another field's path), and it merges results into two
    unordered sets of messages and locations, losing which message belongs where.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # reason: avro leaves it unannotated
        #: The comparisons in progress, innermost last: (reader, location).
        self._stack: list[tuple[avro.schema.Schema, list[str]]] = []
        #: Above 0 while avro tries a reader union's branches and discards the results.
        self._probing = 0
        #: The reason of each lone incompatibility by location, innermost kept.
        self.findings: dict[str, str] = {}
        #: The avro messages those reasons were made from.
        self.messages: set[str] = set()

    def get_compatibility(
        self,
        reader: avro.schema.Schema,
        writer: avro.schema.Schema,
        reference_token: str = _ROOT,
        location: list[str] | None = None,
    ) -> SchemaCompatibilityResult:
        probing = False
        if location is None and self._stack:
            parent_reader, parent_location = self._stack[-1]
            probing = parent_reader.type == "union"
            if not probing:  # looking into the writer's union: carry on from where we are
                *location, reference_token = parent_location
        self._probing += probing
        try:
            return super().get_compatibility(reader, writer, reference_token, location)
        finally:
            self._probing -= probing

    def calculate_compatibility(
        self, reader: avro.schema.Schema, writer: avro.schema.Schema, location: list[str]
    ) -> SchemaCompatibilityResult:
        self._stack.append((reader, location))
        try:
            result = super().calculate_compatibility(reader, writer, location)
        finally:
            self._stack.pop()
        if not self._probing and len(result.incompatibilities) == 1:
            (where,) = result.locations - {_ROOT} or {_ROOT}
            (message,) = result.messages
            self.findings.setdefault(where, _reason(result.incompatibilities[0], message))
            self.messages.add(message)
        return result


def _field_path(reader: avro.schema.RecordSchema, location: str) -> str:
    """A location such as ``/fields/9/type/symbols`` as a field path: ``Referral.urgency``."""
    path: str = reader.name
    node: avro.schema.Schema = reader
    tokens = iter(token for token in location.split("/") if token)
    for token in tokens:
        if token == "fields" and isinstance(node, avro.schema.RecordSchema):
            field = node.fields[int(next(tokens))]
            path, node = f"{path}.{field.name}", field.type
        elif token == "items" and isinstance(node, avro.schema.ArraySchema):
            path, node = f"{path}[]", node.items
        elif token == "values" and isinstance(node, avro.schema.MapSchema):
            path, node = f"{path}{{}}", node.values
        elif token != "type":  # symbols, name, size or a union branch: within this type
            break
    return path
