"""``backbone schemas check`` and ``register`` against an embedded registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backbone.cli import app
from schemas.catalog import SCHEMA_DIR

runner = CliRunner()


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    """A copy of the contracts, registered once in a fresh embedded registry."""
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    result = _cli(tmp_path, "register", folder)
    assert result.exit_code == 0, result.output
    assert "org.relationalbackbone.Contact: id" in result.output
    return folder


def _cli(tmp_path: Path, command: str, folder: Path):  # type: ignore[no-untyped-def]
    return runner.invoke(
        app,
        ["schemas", command, "--schemas", str(folder)],
        env={"BACKBONE_DATA_DIR": str(tmp_path / "data")},
    )


def _edit_contact(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = folder / "org.relationalbackbone.Contact.avsc"
    schema = json.loads(path.read_text())
    change(schema["fields"])
    path.write_text(json.dumps(schema))


def test_unchanged_schemas_pass(contracts: Path, tmp_path: Path) -> None:
    result = _cli(tmp_path, "check", contracts)
    assert result.exit_code == 0, result.output
    assert "compatible" in result.output


def test_incompatible_change_is_rejected_naming_the_field(contracts: Path, tmp_path: Path) -> None:
    def team_becomes_a_number(fields: list[dict[str, object]]) -> None:
        next(field for field in fields if field["name"] == "team")["type"] = "long"

    _edit_contact(contracts, team_becomes_a_number)
    result = _cli(tmp_path, "check", contracts)
    assert result.exit_code == 1
    assert "Contact.team" in result.output


def test_new_required_field_without_default_is_rejected(contracts: Path, tmp_path: Path) -> None:
    def add_required(fields: list[dict[str, object]]) -> None:
        fields.append({"name": "visit_length", "type": "long", "doc": "Minutes."})

    _edit_contact(contracts, add_required)
    result = _cli(tmp_path, "check", contracts)
    assert result.exit_code == 1
    assert "Contact.visit_length" in result.output


def test_new_optional_field_with_default_is_accepted(contracts: Path, tmp_path: Path) -> None:
    def add_optional(fields: list[dict[str, object]]) -> None:
        fields.append(
            {"name": "visit_length", "type": ["null", "long"], "default": None, "doc": "Minutes."}
        )

    _edit_contact(contracts, add_optional)
    result = _cli(tmp_path, "check", contracts)
    assert result.exit_code == 0, result.output
