"""``backbone rules test`` and ``check``: a backtest over a JSON Lines file, and pack errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from backbone.cli import app
from tests.rules.support import DEFAULT_TEXT, days

PLACE = "E01000001"
#: Two agencies' records of one person: the NHS number links them.
MARGARET = {
    "given_name": "Margaret",
    "family_name": "Okonkwo",
    "birth_date": "1948-03-07",
    "postcode": "LS6 2AB",
    "nhs_number": "9990000018",
}
CHIDI = {"given_name": "Chidi", "family_name": "Adebayo", "birth_date": "1979-11-30"}


def _event(
    kind: str, n: int, day: float, agency: str, person: dict[str, str], **fields: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "event_id": f"00000000-0000-0000-0000-{n:012d}",
        "occurred_at": days(day).isoformat(),
        "agency": agency,
        "person": person,
        **fields,
    }


def _contact(n: int, day: float, agency: str, local_id: str, **fields: Any) -> dict[str, Any]:
    fields = {"team": f"{agency}-team", "channel": "visit", "outcome": "completed"} | fields
    return _event("contact", n, day, agency, {"local_id": local_id, **MARGARET}, **fields)


#: Missed twice within 14 days at two agencies; a volunteer's concern for someone else.
EVENTS = [
    _contact(1, 0, "nhs-trust", "n-1", outcome="no_answer"),
    _contact(2, 7, "council", "c-1", outcome="missed"),
    _event(
        "volunteer-action",
        3,
        9,
        "good-neighbours",
        {"local_id": "g-7", **CHIDI},
        place={"place_id": PLACE},
        volunteer_id="vol-9",
        action="shopping",
        concern_raised=True,
    ),
]


def _write(folder: Path, lines: list[str], name: str = "events.jsonl") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _events(folder: Path, events: list[dict[str, Any]]) -> Path:
    return _write(folder, [json.dumps(event) for event in events])


def _rules(*args: str) -> Result:
    return CliRunner().invoke(app, ["rules", *args])


def _backtest(*args: str) -> dict[str, Any]:
    result = _rules("test", *args, "--json")
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _alerts(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {rule["rule_id"]: rule["alerts"] for rule in report["rules"]}


def test_a_backtest_fires_the_rules_the_events_call_for(tmp_path: Path) -> None:
    events = _events(tmp_path, EVENTS)
    report = _backtest("--replay", str(events), "--coordinator", f"{PLACE}=neighbourhood-team")
    alerts = _alerts(report)
    assert {rule: len(raised) for rule, raised in alerts.items()} == {
        "gone-quiet": 0,
        "missed-contacts": 1,
        "many-services-no-lead": 0,
        "volunteer-concern": 1,
        "place-need-spike": 0,
    }
    assert (report["events"], report["persons"]) == (3, 2)
    (missed,) = alerts["missed-contacts"]
    assert missed["subject"].startswith("p")
    assert missed["raised_at"] == days(7).isoformat().replace("+00:00", "Z")
    assert missed["teams"] == ["council-team", "nhs-trust-team"]
    assert "2 contacts missed or not answered" in missed["explanation"]
    (concern,) = alerts["volunteer-concern"]
    assert concern["teams"] == ["neighbourhood-team"]
    assert concern["subject"] != missed["subject"]


def test_the_same_file_gives_the_same_alert_ids_every_run(tmp_path: Path) -> None:
    events = _events(tmp_path, EVENTS)
    runs = [_alerts(_backtest("default", "--replay", str(events))) for _ in range(2)]
    ids = [sorted(alert["alert_id"] for raised in run.values() for alert in raised) for run in runs]
    assert len(ids[0]) == 2
    assert ids[0] == ids[1]


def test_the_table_names_each_rule_its_count_and_each_alert(tmp_path: Path) -> None:
    result = _rules("test", "--replay", str(_events(tmp_path, EVENTS)))
    assert result.exit_code == 0, result.output
    assert "over 3 events (2 persons)" in result.stdout
    assert "missed-contacts (medium): 1 alert" in result.stdout
    assert "gone-quiet (high): 0 alerts" in result.stdout
    key = _alerts(_backtest("--replay", str(_events(tmp_path, EVENTS))))["missed-contacts"]
    assert key[0]["subject"] in result.stdout
    assert "2024-06-10 09:00 UTC" in result.stdout


def test_the_default_end_lets_absences_fire_and_until_can_stop_short(tmp_path: Path) -> None:
    seen = [_contact(n, n * 3, "council", "c-1") for n in range(1, 4)]
    events = str(_events(tmp_path, seen))
    assert len(_alerts(_backtest("--replay", events))["gone-quiet"]) == 1
    before_the_deadline = days(9 + 9).isoformat()
    assert (
        _alerts(_backtest("--replay", events, "--until", before_the_deadline))["gone-quiet"] == []
    )


def test_until_is_an_instant_after_the_last_event(tmp_path: Path) -> None:
    events = str(_events(tmp_path, EVENTS))
    for until, reason in (("2024-07-01", "offset"), ("2024-06-04T09:00Z", "never goes back")):
        result = _rules("test", "--replay", events, "--until", until)
        assert result.exit_code == 2
        assert reason in result.output


def test_check_accepts_the_default_pack() -> None:
    result = _rules("check", "default")
    assert result.exit_code == 0, result.output
    assert "valid, 5 rules" in result.stdout


def test_a_bad_pack_is_named_by_rule_and_key(tmp_path: Path) -> None:
    pack = tmp_path / "rules.yaml"
    pack.write_text(DEFAULT_TEXT.replace("at_least: 2", "at_least: 0"), encoding="utf-8")
    for args in (["check", str(pack)], ["test", str(pack), "--replay", str(tmp_path / "none")]):
        result = _rules(*args)
        assert result.exit_code == 1
        assert "invalid rule pack" in result.stderr
        assert "rules[1] (missed-contacts).count.at_least" in result.stderr


def test_bad_lines_are_named_by_line_and_field(tmp_path: Path) -> None:
    nameless = _contact(2, 1, "council", "c-1")
    del nameless["person"]["local_id"]
    unknown = _contact(4, 2, "council", "c-1") | {"kind": "visit"}
    conflict = _contact(1, 3, "council", "c-1")
    lines = [json.dumps(EVENTS[0]), json.dumps(nameless), "", "{not json", json.dumps(unknown)]
    result = _rules("test", "--replay", str(_write(tmp_path, [*lines, json.dumps(conflict)])))
    assert result.exit_code == 1
    assert "invalid events" in result.stderr
    for problem in (
        "line 2: person.local_id: Field required",
        "line 4: (line): not valid JSON",
        "line 5: kind: expected one of referral, contact",
        "line 6: event_id: that of line 1, with another body",
    ):
        assert problem in result.stderr
    assert "line 1:" not in result.stderr


def test_a_repeated_event_counts_once(tmp_path: Path) -> None:
    events = _events(tmp_path, [*EVENTS, EVENTS[1]])
    assert _backtest("--replay", str(events))["events"] == 3
