"""Every contract, loaded once: each Avro record paired with its pydantic model.

The ``.avsc`` files reference shared named types by name, which no schema registry can
resolve, so each record is expanded here into the self-contained schema that is registered.
Pairing records with models at load makes a missing half a startup error, not a
``KeyError`` on the first message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from fastavro.schema import SchemaParseException, UnknownType, load_schema
from fastavro.types import Schema
from pydantic import BaseModel

from schemas.errors import ContractError
from schemas.models import MESSAGES, NAMED_TYPES

#: Where the ``.avsc`` files live; each is named ``<full name>.avsc``.
SCHEMA_DIR = Path(__file__).parent
NAMESPACE = "org.relationalbackbone"


@dataclass(frozen=True)
class Contract:
    """One record type: its model, and its schema in the forms callers need."""

    #: The record's Avro full name, e.g. ``org.relationalbackbone.Referral``.
    name: str
    model: type[BaseModel]
    #: The self-contained schema (named types inline, docs and defaults kept) as canonical
    #: JSON: sorted keys and no whitespace, so that the same schema is always the same text.
    #: This is what gets registered.
    text: str
    #: fastavro's parsed form, for reading and writing without parsing again.
    parsed: Schema

    @property
    def schema(self) -> dict[str, Any]:
        """The self-contained schema as a fresh dict, which callers may change freely."""
        result: dict[str, Any] = json.loads(self.text)
        return result


def canonical_json(schema: Mapping[str, Any]) -> str:
    """One text per schema, so that a registry sees the same schema as the same text."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Catalog:
    """The contracts of one schema folder, keyed by record full name."""

    def __init__(
        self,
        folder: Path = SCHEMA_DIR,
        named_types: Iterable[type[BaseModel] | type[StrEnum]] = NAMED_TYPES,
        messages: Iterable[type[BaseModel]] = MESSAGES,
    ) -> None:
        classes = {f"{NAMESPACE}.{cls.__name__}": cls for cls in named_types}
        loaded = {path.name.removesuffix(".avsc"): _load(path) for path in folder.glob("*.avsc")}
        unpaired = sorted(classes.keys() ^ loaded.keys())
        if unpaired:
            raise ContractError(f"named types without both a schema and a model: {unpaired}")
        records: dict[str, Contract] = {}
        for name, parsed in loaded.items():
            cls = classes[name]
            if issubclass(cls, BaseModel) != (parsed["type"] == "record"):
                raise ContractError(f"{name} is a {parsed['type']} but {cls!r} is not its kind")
            if issubclass(cls, BaseModel):
                records[name] = _contract(cls, parsed)
        #: Every record's contract by full name.
        self.records: Mapping[str, Contract] = records
        #: The records that travel as whole messages, each under its own registry subject.
        self.messages: tuple[Contract, ...] = tuple(self.contract(model) for model in messages)

    @classmethod
    def load(cls, folder: Path = SCHEMA_DIR) -> Catalog:
        """The catalog of ``folder`` (by default the package's own), loaded once per process."""
        return _load_catalog(folder)

    def contract(self, record: str | type[BaseModel]) -> Contract:
        """The contract of a model class, or of a record by full or short name."""
        name = record if isinstance(record, str) else record.__name__
        found = self.records.get(name if "." in name else f"{NAMESPACE}.{name}")
        if found is None or not (isinstance(record, str) or found.model is record):
            raise ContractError(f"no contract for record {name!r}")
        return found

    def to_avro(self, model: BaseModel) -> dict[str, Any]:
        """The Avro datum for ``model``, ready for fastavro's writers.

        Only models of this catalog qualify, so nothing is written under a look-alike schema.
        """
        self.contract(type(model))
        return model.model_dump()

    def from_avro(self, record: str, datum: Mapping[str, Any]) -> BaseModel:
        """The model for a datum fastavro read as ``record``, validated."""
        return self.contract(record).model.model_validate(datum)


def _load(path: Path) -> dict[str, Any]:
    """fastavro's parse of one file, with the named types it references resolved."""
    try:
        parsed = load_schema(str(path))
    except (OSError, ValueError, SchemaParseException, UnknownType) as exc:
        raise ContractError(f"cannot load {path.name}: {exc}") from exc
    if not isinstance(parsed, dict) or f"{parsed.get('name')}.avsc" != path.name:
        raise ContractError(f"{path.name} must hold one named type of the same full name")
    return parsed


def _contract(cls: type[BaseModel], parsed: dict[str, Any]) -> Contract:
    # fastavro marks its parsed form with private keys; the rest is the expanded schema.
    schema = {key: value for key, value in parsed.items() if not key.startswith("__")}
    return Contract(name=parsed["name"], model=cls, text=canonical_json(schema), parsed=parsed)


@cache
def _load_catalog(folder: Path) -> Catalog:
    return Catalog(folder)
