"""``backbone identity resolve``: a CSV in, record ids and person keys out."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backbone.commands.identity import app

HEADER = "record_id,agency,local_id,given_name,family_name,birth_date,address,postcode,nhs_number"
ROWS = [
    "r1,council,c1,Margaret,Okonkwo,1948-03-07,14 Elm Road,LS6 2AB,",
    "r2,nhs,n1,Peggy,Okonkwo,07/03/1948,14 Elm Rd,LS62AB,",
    "r3,nhs,n2,Chidi,Okonkwo,1979-11-30,14 Elm Road,LS6 2AB,",
    "r4,,,,,,,,",
]


def _write(folder: Path, *lines: str) -> Path:
    path = folder / "caseload.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _keys(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as source:
        return {row["record_id"]: row["person_key"] for row in csv.DictReader(source)}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a fresh folder: the default secret lives in ./.backbone."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_resolve_writes_a_key_per_record_and_counts(workdir: Path) -> None:
    source = _write(workdir, HEADER, *ROWS)
    result = CliRunner().invoke(app, [str(source), "--out", "keys.csv"])
    assert result.exit_code == 0, result.output
    keys = _keys(workdir / "keys.csv")
    assert list(keys) == ["r1", "r2", "r3", "r4"]
    assert keys["r1"] == keys["r2"]
    assert len({keys["r1"], keys["r3"], keys["r4"]}) == 3
    assert "4 records, 3 persons: 1 linked" in result.output


def test_the_default_secret_is_created_once_private_and_reused(workdir: Path) -> None:
    source = _write(workdir, HEADER, *ROWS)
    runner = CliRunner()
    runner.invoke(app, [str(source), "--out", "first.csv"])
    key_file = workdir / ".backbone" / "identity.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32
    runner.invoke(app, [str(source), "--out", "second.csv"])
    assert _keys(workdir / "first.csv") == _keys(workdir / "second.csv")


def test_a_secret_file_gives_other_keys(workdir: Path) -> None:
    source = _write(workdir, HEADER, *ROWS)
    secret = workdir / "secret"
    secret.write_bytes(b"x" * 40)
    runner = CliRunner()
    runner.invoke(app, [str(source), "--out", "default.csv"])
    result = runner.invoke(app, [str(source), "--out", "named.csv", "--secret-file", str(secret)])
    assert result.exit_code == 0, result.output
    assert _keys(workdir / "default.csv")["r1"] != _keys(workdir / "named.csv")["r1"]


def test_columns_may_be_missing_but_record_id(workdir: Path) -> None:
    source = _write(workdir, "record_id,given_name,family_name", "a,Ann,Lee", "b,Ann,Lee")
    result = CliRunner().invoke(app, [str(source), "--out", "keys.csv"])
    assert result.exit_code == 0, result.output
    assert set(_keys(workdir / "keys.csv")) == {"a", "b"}


@pytest.mark.parametrize("lines", [("agency,local_id", "a,1"), ("record_id,agency", ",a")])
def test_a_missing_record_id_is_refused(workdir: Path, lines: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [str(_write(workdir, *lines)), "--out", "keys.csv"])
    assert result.exit_code == 2
    assert "record_id" in result.output


def test_a_short_secret_is_refused(workdir: Path) -> None:
    secret = workdir / "secret"
    secret.write_bytes(b"short")
    source = _write(workdir, HEADER, *ROWS)
    result = CliRunner().invoke(
        app, [str(source), "--out", "keys.csv", "--secret-file", str(secret)]
    )
    assert result.exit_code == 2
