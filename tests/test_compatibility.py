"""BACKWARD_TRANSITIVE: the current schemas must read what every registered version wrote."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schemas.catalog import NAMESPACE, SCHEMA_DIR, Catalog
from schemas.compatibility import Incompatibility, check, register_all
from schemas.registry import EmbeddedSchemaRegistry
from schemas.types import record_subject

CATALOG = Catalog.load()
REFERRAL = f"{NAMESPACE}.Referral"
OPTIONAL_PRIORITY = {"name": "priority", "type": ["null", "string"], "default": None, "doc": "."}


@pytest.fixture
def registry(tmp_path: Path) -> EmbeddedSchemaRegistry:
    return EmbeddedSchemaRegistry(tmp_path / "registry.sqlite")


def _referral(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A copy of the current Referral schema, changed by ``change``."""
    schema = CATALOG.contract(REFERRAL).schema
    change(schema)
    return schema


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(field for field in schema["fields"] if field["name"] == name)


def _catalog_with(tmp_path: Path, referral: dict[str, Any]) -> Catalog:
    """The package's catalog, but with ``referral`` as the current Referral schema."""
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (folder / f"{REFERRAL}.avsc").write_text(json.dumps(referral))
    return Catalog(folder)


def _register(registry: EmbeddedSchemaRegistry, schema: dict[str, Any]) -> None:
    registry.register(record_subject(REFERRAL), json.dumps(schema))


def test_nothing_registered_passes(registry: EmbeddedSchemaRegistry) -> None:
    assert check(CATALOG, registry) == []


def test_the_registered_schemas_themselves_pass(registry: EmbeddedSchemaRegistry) -> None:
    ids = register_all(CATALOG, registry)
    assert set(ids) == {contract.name for contract in CATALOG.messages}
    assert len(set(ids.values())) == len(ids)
    assert check(CATALOG, registry) == []


def test_register_all_is_idempotent(registry: EmbeddedSchemaRegistry) -> None:
    assert register_all(CATALOG, registry) == register_all(CATALOG, registry)
    assert registry.versions(record_subject(REFERRAL)) == [CATALOG.contract(REFERRAL).text]


def test_a_new_optional_field_with_default_null_is_compatible(
    registry: EmbeddedSchemaRegistry, tmp_path: Path
) -> None:
    _register(registry, CATALOG.contract(REFERRAL).schema)
    current = _referral(lambda schema: schema["fields"].append(OPTIONAL_PRIORITY))
    assert check(_catalog_with(tmp_path, current), registry) == []


def _set_type(name: str, new_type: Any) -> Callable[[dict[str, Any]], None]:
    return lambda schema: _field(schema, name).update(type=new_type)


def _make_required(schema: dict[str, Any]) -> None:
    to_service = _field(schema, "to_service")
    to_service["type"] = "string"
    del to_service["default"]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            lambda schema: schema["fields"].append({"name": "priority", "type": "string"}),
            "Referral.priority",
            "missing default",
        ),
        (_set_type("urgency", "string"), "Referral.urgency", "type mismatch"),
        (_make_required, "Referral.to_service", "writer type: null"),
        (
            lambda schema: _field(schema, "urgency")["type"]["symbols"].remove("soon"),
            "Referral.urgency",
            "soon",
        ),
        (
            lambda schema: _field(schema, "person")["type"]["fields"][0].update(type="int"),
            "Referral.person.local_id",
            "type mismatch",
        ),
    ],
    ids=["required-field-added", "type-changed", "made-required", "symbol-removed", "nested"],
)
def test_an_incompatible_change_is_reported_naming_the_field(
    registry: EmbeddedSchemaRegistry,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    field: str,
    reason: str,
) -> None:
    _register(registry, CATALOG.contract(REFERRAL).schema)
    (problem,) = check(_catalog_with(tmp_path, _referral(change)), registry)
    assert (problem.record, problem.version, problem.field) == (REFERRAL, 1, field)
    assert reason in problem.reason
    assert str(problem).startswith(f"{field}: ")


def test_several_changes_are_each_reported(
    registry: EmbeddedSchemaRegistry, tmp_path: Path
) -> None:
    _register(registry, CATALOG.contract(REFERRAL).schema)

    def change(schema: dict[str, Any]) -> None:
        _field(schema, "urgency")["type"] = "string"
        schema["fields"] += [{"name": name, "type": "string"} for name in ("priority", "rank")]

    problems = check(_catalog_with(tmp_path, _referral(change)), registry)
    assert [(problem.field, problem.reason) for problem in problems] == [
        ("Referral.priority", "reader field missing default value: priority"),
        ("Referral.rank", "reader field missing default value: rank"),
        (
            "Referral.urgency",
            "type mismatch: reader type: string not compatible with writer type: enum",
        ),
    ]


def test_every_registered_version_is_checked_not_just_the_last(
    registry: EmbeddedSchemaRegistry, tmp_path: Path
) -> None:
    with_default = {"name": "channel", "type": "string", "default": "phone", "doc": "."}
    _register(registry, CATALOG.contract(REFERRAL).schema)
    _register(registry, _referral(lambda schema: schema["fields"].append(with_default)))
    # Reads version 2, which has the field, but not version 1, which lacks it.
    without_default = {key: value for key, value in with_default.items() if key != "default"}
    current = _referral(lambda schema: schema["fields"].append(without_default))

    problems = check(_catalog_with(tmp_path, current), registry)

    assert problems == [
        Incompatibility(
            REFERRAL, 1, "Referral.channel", "reader field missing default value: channel"
        )
    ]


def test_a_registered_version_that_does_not_parse_is_reported(
    registry: EmbeddedSchemaRegistry,
) -> None:
    registry.register(record_subject(REFERRAL), '{"type": "record", "name": "Referral"}')
    (problem,) = check(CATALOG, registry)
    assert (problem.record, problem.version, problem.field) == (REFERRAL, 1, "Referral")
    assert "does not parse" in problem.reason
