"""The file drop in memory: reading CSV and JSON Lines, rejects, dead letters, the watcher."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from connectors.files import FileDropError, publish_file, read_records
from connectors.filewatch import FolderWatch
from schemas.deadletter import DeadLetter
from schemas.topics import EventKind, Topics
from tests.connectors.drops import (
    AGENCY,
    CSV_HEADER,
    InMemory,
    contact_body,
    csv_row,
    event_id,
    write_csv,
)

TOPICS = Topics(prefix="files")
CONTACTS = TOPICS.source(EventKind.CONTACT)


@pytest.fixture
def memory(tmp_path: Path) -> InMemory:
    return InMemory.at(tmp_path, TOPICS)


def test_csv_rows_become_nested_events_with_lists_and_absent_cells(tmp_path: Path) -> None:
    header = [*CSV_HEADER, "person.address"]
    rows = [
        [*csv_row(1), "1 Test Street\nExampleton"],  # a quoted cell over two lines
        [""] * len(header),  # an empty row is skipped
        [*csv_row(2, needs_observed=" food ; ;money", **{"person.given_name": ""}), ""],
    ]
    path = write_csv(tmp_path / "contacts.csv", rows, header)
    first, second = read_records(path, EventKind.CONTACT, AGENCY)
    assert first.submission.position == 2
    assert second.submission.position == 5
    assert first.submission.raw == (",".join(csv_row(1)) + ',"1 Test Street\nExampleton"').encode()
    assert second.submission.raw == ",".join(rows[2]).encode()
    assert second.submission.body == {
        "event_id": str(event_id(2)),
        "occurred_at": "2024-06-03T09:00:00+01:00",
        "agency": AGENCY,
        "person": {"local_id": "person-2"},
        "place": {"place_id": "E01000001"},
        "team": "district-nursing",
        "channel": "visit",
        "outcome": "no_answer",
        "needs_observed": ["food", "money"],
    }
    assert isinstance(first.submission.body, dict)
    assert first.submission.body["person"]["address"] == "1 Test Street\nExampleton"
    assert second.end == path.stat().st_size


def test_refused_rows_are_listed_without_values_and_dead_lettered_as_written(
    tmp_path: Path, memory: InMemory
) -> None:
    rows = [
        csv_row(1),
        csv_row(2, outcome="vanished", **{"person.local_id": ""}),
        [*csv_row(3), "surplus"],
        csv_row(4),
    ]
    path = write_csv(tmp_path / "contacts.csv", rows)
    agency_column = write_csv(
        tmp_path / "other.csv", [[*csv_row(5), "council"]], [*CSV_HEADER, "agency"]
    )
    report = publish_file(path, EventKind.CONTACT, AGENCY, memory.ingest)
    other = publish_file(agency_column, EventKind.CONTACT, AGENCY, memory.ingest)
    assert (report.published, report.repeats, report.rejected, report.complete) == (2, 0, 2, True)
    assert memory.published_ids() == [event_id(1), event_id(4)]
    rejects = [json.loads(line) for line in report.rejects.read_text().splitlines()]
    assert [(r["line"], r["status"]) for r in rejects] == [(3, "invalid"), (4, "invalid")]
    assert {e["loc"] for e in rejects[0]["errors"]} == {"outcome", "person.local_id"}
    assert rejects[1]["errors"] == [{"loc": "(column 10)", "msg": "Extra inputs are not permitted"}]
    assert "vanished" not in report.rejects.read_text()
    letters = memory.sink.on(TOPICS.dead_letters)
    assert [letter.value for letter in letters] == [
        ",".join(rows[1]).encode(),
        ",".join(rows[2]).encode(),
    ]
    headers = DeadLetter.from_headers(list(letters[0].headers))
    assert (headers.connector, headers.source_offset) == ("file", 3)
    assert (other.rejected, json.loads(other.rejects.read_text())["status"]) == (1, "forbidden")


def test_json_lines_take_events_as_the_http_api_does(tmp_path: Path, memory: InMemory) -> None:
    without_agency = {k: v for k, v in contact_body(2).items() if k != "agency"}
    lines = [
        json.dumps(contact_body(1, agency=AGENCY)),
        "",
        json.dumps(without_agency),
        "{not json",
    ]
    path = tmp_path / "contacts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = publish_file(path, EventKind.CONTACT, AGENCY, memory.ingest)
    assert (report.published, report.rejected) == (2, 1)
    (reject,) = [json.loads(line) for line in report.rejects.read_text().splitlines()]
    assert (reject["line"], reject["errors"][0]["loc"]) == (4, "(body)")
    assert [letter.value for letter in memory.sink.on(TOPICS.dead_letters)] == [b"{not json"]


def test_a_rerun_is_all_repeats_and_clears_the_stale_rejects_file(
    tmp_path: Path, memory: InMemory
) -> None:
    path = write_csv(tmp_path / "contacts.csv", [csv_row(n) for n in range(7)])
    (tmp_path / "contacts.csv.rejects.jsonl").write_text("from an earlier run\n")
    seen: list[tuple[int, int]] = []
    first = publish_file(
        path,
        EventKind.CONTACT,
        AGENCY,
        memory.ingest,
        chunk=3,
        progress=lambda *at: seen.append(at),
    )
    again = publish_file(path, EventKind.CONTACT, AGENCY, memory.ingest, chunk=3)
    assert (first.published, again.published, again.repeats) == (7, 0, 7)
    assert [records for _, records in seen] == [3, 6, 7]
    assert seen[-1][0] == path.stat().st_size
    assert len(memory.sink.on(CONTACTS)) == 7
    assert not first.rejects.exists()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("dup.csv", b"event_id,team,team\n1,2,3\n", "'team' appears twice"),
        ("clash.csv", b"person,person.local_id\n1,2\n", "'person' and 'person.local_id' clash"),
        ("empty.csv", b"", "header"),
        ("latin1.csv", b"team,person.local_id\nd,caf\xe9\n", "line 2: not UTF-8"),
        ("quote.csv", b'team\n"a"b\n', "line 2"),
        ("notes.txt", b"team\n", "reads .csv, .jsonl, .ndjson"),
    ],
)
def test_an_unreadable_file_says_why(
    tmp_path: Path, memory: InMemory, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileDropError, match=re.escape(problem)):
        publish_file(path, EventKind.CONTACT, AGENCY, memory.ingest)
    rejects = tmp_path / f"{name}.rejects.jsonl"
    if name.endswith(".csv"):
        (entry,) = [json.loads(line) for line in rejects.read_text().splitlines()]
        assert (entry["status"], entry["errors"][0]["loc"]) == ("unreadable", "(file)")
    else:
        assert not rejects.exists()  # not a drop at all: nothing is written beside it


def test_the_watcher_takes_complete_files_once_and_moves_them(
    tmp_path: Path, memory: InMemory
) -> None:
    drops = tmp_path / "drops"
    drops.mkdir()
    watch = FolderWatch(drops, EventKind.CONTACT, AGENCY, memory.ingest)
    good = write_csv(drops / "good.csv", [csv_row(1)])
    (drops / ".hidden.csv").write_text("being written")
    (drops / "late.csv.part").write_text("being written")
    assert watch.poll() == []  # seen once: it may still be growing
    with good.open("a", newline="") as handle:
        handle.write(",".join(csv_row(2)) + "\r\n")
    assert watch.poll() == []  # it grew since the last poll
    (handled,) = watch.poll()
    assert handled.moved_to == drops / "done" / "good.csv"
    assert handled.report.published == 2
    write_csv(drops / "good.csv", [csv_row(3), csv_row(4, channel="pigeon")])  # next night's
    (drops / "broken.csv").write_bytes(b"team,team\n")
    watch.poll()
    moved = {h.report.path.name: h for h in watch.poll()}
    assert moved["good.csv"].moved_to is not None
    assert moved["good.csv"].moved_to.parent == drops / "failed"
    assert moved["broken.csv"].unreadable == "broken.csv: column 'team' appears twice"
    assert sorted(p.name for p in (drops / "failed").iterdir()) == [
        "broken.csv",
        "broken.csv.rejects.jsonl",
        "good.csv",
        "good.csv.rejects.jsonl",
    ]
    assert sorted(p.name for p in drops.iterdir()) == [
        ".hidden.csv",
        "done",
        "failed",
        "late.csv.part",
    ]
    assert len(memory.sink.on(CONTACTS)) == 3


def test_the_watcher_runs_in_a_thread_until_stopped(tmp_path: Path, memory: InMemory) -> None:
    stop = threading.Event()
    handled = threading.Event()
    watch = FolderWatch(
        tmp_path, EventKind.CONTACT, AGENCY, memory.ingest, on_handled=lambda _: handled.set()
    )
    thread = threading.Thread(target=watch.run, args=(stop, 0.02), name="watcher")
    thread.start()
    try:
        write_csv(tmp_path / "night.csv.part", [csv_row(1)]).rename(tmp_path / "night.csv")
        assert handled.wait(10)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert (tmp_path / "done" / "night.csv").exists()


def test_an_unacknowledged_file_is_left_to_try_again(tmp_path: Path, memory: InMemory) -> None:
    path = write_csv(tmp_path / "contacts.csv", [csv_row(n) for n in range(5)])
    memory.sink.failing.add(CONTACTS)
    report = publish_file(path, EventKind.CONTACT, AGENCY, memory.ingest, chunk=2)
    assert report.stopped == "the broker did not acknowledge line 2"
    assert (report.published, report.rejected, report.rejects.exists()) == (0, 0, False)
    watch = FolderWatch(tmp_path, EventKind.CONTACT, AGENCY, memory.ingest)
    watch.poll()
    (handled,) = watch.poll()
    assert (handled.moved_to, path.exists()) == (None, True)
    memory.sink.failing.clear()
    watch.poll()
    (handled,) = watch.poll()
    assert handled.moved_to == tmp_path / "done" / "contacts.csv"
