"""``backbone publish`` as agencies run it: on the real broker, once a night, or watching."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from backbone.cli import app
from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.deadletter import DeadLetter
from schemas.models import Contact
from schemas.registry import EmbeddedSchemaRegistry
from schemas.topics import EventKind, Topics
from tests.connectors.drops import AGENCY, contact_body, csv_row, event_id, read_topic, write_csv
from tests.fixtures.kafka import KafkaCluster

WAIT = 30.0


@pytest.fixture
def config(tmp_path: Path, topics: Topics) -> Path:
    path = tmp_path / "backbone.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"kafka:\n  topic_prefix: {topics.prefix}\n  partitions: {topics.partitions}\n"
    )
    return path


def _publish(config: Path, *args: str) -> Result:
    options = ["--kind", "contact", "--agency", AGENCY, "--config", str(config)]
    return CliRunner().invoke(app, ["publish", *args, *options])


def _contact_ids(tmp_path: Path, bootstrap: str, topics: Topics, expected: int) -> list[str]:
    codec = AvroCodec(EmbeddedSchemaRegistry(tmp_path / "data" / "schemas.sqlite"), Catalog.load())
    messages = read_topic(bootstrap, topics.source(EventKind.CONTACT), expected)
    return sorted(str(codec.decode_as(m.value, Contact).event_id) for m in messages)


@pytest.mark.kafka
def test_a_file_is_published_once_however_often_it_is_run(
    tmp_path: Path, config: Path, kafka_cluster: KafkaCluster, topics: Topics
) -> None:
    rows = [csv_row(n) for n in range(40)]
    rows.insert(7, csv_row(99, outcome="vanished"))
    path = write_csv(tmp_path / "contacts.csv", rows)
    bootstrap = ("--bootstrap", kafka_cluster.bootstrap)
    first = _publish(config, str(path), *bootstrap)
    again = _publish(config, str(path), *bootstrap)
    assert first.exit_code == again.exit_code == 1, first.output + first.stderr
    assert "40 published, 0 repeats (accepted earlier), 1 rejected" in first.stdout
    assert "0 published, 40 repeats (accepted earlier), 1 rejected" in again.stdout
    rejects = path.with_name("contacts.csv.rejects.jsonl").read_text().splitlines()
    (reject,) = [json.loads(line) for line in rejects]
    assert (reject["line"], reject["status"]) == (9, "invalid")
    ids = _contact_ids(tmp_path, kafka_cluster.bootstrap, topics, 40)
    assert ids == sorted(str(event_id(n)) for n in range(40))
    letters = read_topic(kafka_cluster.bootstrap, topics.dead_letters, 2)
    assert [letter.value for letter in letters] == [",".join(rows[7]).encode()] * 2
    assert DeadLetter.from_headers(list(letters[0].headers)).connector == "file"


@pytest.mark.kafka
def test_json_lines_all_accepted_exit_0(
    tmp_path: Path, config: Path, kafka_cluster: KafkaCluster, topics: Topics
) -> None:
    path = tmp_path / "contacts.ndjson"
    path.write_text("".join(json.dumps(contact_body(n)) + "\n" for n in range(5)))
    result = _publish(config, str(path), "--bootstrap", kafka_cluster.bootstrap)
    assert result.exit_code == 0, result.output + result.stderr
    assert "5 published, 0 repeats" in result.stdout
    assert len(_contact_ids(tmp_path, kafka_cluster.bootstrap, topics, 5)) == 5


def test_usage_and_configuration_errors_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "backbone.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    path = write_csv(tmp_path / "contacts.csv", [csv_row(1)])
    neither = _publish(config)
    both = _publish(config, str(path), "--watch", str(tmp_path))
    no_broker = _publish(config, str(path))
    assert [neither.exit_code, both.exit_code, no_broker.exit_code] == [2, 2, 2]
    assert "give either a FILE or --watch DIR" in neither.stderr
    assert "no backbone is running from" in no_broker.stderr


@pytest.mark.kafka
def test_watch_publishes_drops_moves_them_and_stops_on_sigterm(
    tmp_path: Path, config: Path, kafka_cluster: KafkaCluster, topics: Topics
) -> None:
    drops = tmp_path / "drops"
    drops.mkdir()
    log = tmp_path / "watch.log"
    with log.open("wb") as output:
        watcher = subprocess.Popen(
            [
                *(sys.executable, "-m", "backbone", "publish", "--watch", str(drops)),
                *("--kind", "contact", "--agency", AGENCY, "--interval", "0.1"),
                *("--bootstrap", kafka_cluster.bootstrap, "--config", str(config)),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )
    try:
        write_csv(drops / "monday.csv.part", [csv_row(n) for n in range(3)]).rename(
            drops / "monday.csv"
        )
        write_csv(drops / "tuesday.csv", [csv_row(3), csv_row(4, channel="pigeon")])
        deadline = time.monotonic() + WAIT
        while not ((drops / "done" / "monday.csv").exists() and (drops / "failed").exists()):
            assert watcher.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(WAIT) == 0, log.read_text()
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert sorted(p.name for p in (drops / "failed").iterdir()) == [
        "tuesday.csv",
        "tuesday.csv.rejects.jsonl",
    ]
    assert log.read_text().rstrip().endswith("stopped")
    assert len(_contact_ids(tmp_path, kafka_cluster.bootstrap, topics, 4)) == 4
