"""``backbone dlq list`` and ``replay`` on the real broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from typer.testing import CliRunner

from backbone.cli import app
from backbone.runtime import codec_for, ingest_for
from backbone.settings import load_settings
from connectors.deadletters import read_letters
from connectors.ingest import Ingest, Status, Submission
from schemas.deadletter import DeadLetter
from schemas.topics import EventKind, Topics
from streams.store import Store
from tests.fixtures.kafka import KafkaCluster
from tests.samples import sample_events

pytestmark = pytest.mark.kafka
runner = CliRunner()


@pytest.fixture
def env(topics: Topics, tmp_path: Path) -> dict[str, str]:
    return {"BACKBONE_KAFKA__TOPIC_PREFIX": topics.prefix, "BACKBONE_DATA_DIR": str(tmp_path)}


@pytest.fixture
def ingest(
    kafka_cluster: KafkaCluster, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ingest]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    with Store.open(settings.database_url) as store:
        opened = ingest_for(settings, store, [kafka_cluster.bootstrap])
        yield opened
        opened.close()


def _invalid_contact() -> bytes:
    body = json.loads(sample_events()[1].model_dump_json())
    body["outcome"] = "vanished"
    return json.dumps(body).encode()


def _cli(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["dlq", *args], env=env)


def test_list_and_replay_both_kinds_of_letter(
    ingest: Ingest, kafka_cluster: KafkaCluster, topics: Topics, env: dict[str, str], tmp_path: Path
) -> None:
    contact = sample_events()[1]
    raw = _invalid_contact()
    (outcome,) = ingest.accept(
        EventKind.CONTACT, [Submission(raw, raw)], agency=contact.agency, connector="http"
    )
    assert outcome.status == Status.INVALID
    # A letter as the journal agent writes it: the Avro message from its source topic.
    avro = codec_for(load_settings(data_dir=tmp_path)).encode(contact)
    agent_letter = DeadLetter(topics.source(EventKind.CONTACT), 1, 41, "journal", "X", "y")
    ingest.sink.add(topics.dead_letters, b"k", avro, agent_letter.headers()).result(30)

    listed = _cli(env, "list", "--bootstrap", kafka_cluster.bootstrap)
    assert listed.exit_code == 0, listed.output
    assert "2 dead letter(s)" in listed.output
    assert "outcome" in listed.output
    letters = read_letters([kafka_cluster.bootstrap], topics.dead_letters)
    http_ref = next(s.ref for s in letters if s.letter.connector == "http")
    journal_ref = next(s.ref for s in letters if s.letter.connector == "journal")

    still_bad = _cli(env, "replay", http_ref, "--bootstrap", kafka_cluster.bootstrap)
    assert still_bad.exit_code == 1
    assert f"{http_ref}: invalid" in still_bad.output
    again = [
        s
        for s in read_letters([kafka_cluster.bootstrap], topics.dead_letters)
        if s.letter.connector == "replay"
    ]
    assert [s.letter.attempts for s in again] == [2]
    assert again[0].value == raw

    replayed = _cli(env, "replay", journal_ref, "--bootstrap", kafka_cluster.bootstrap)
    assert replayed.exit_code == 0, replayed.output
    consumer = KafkaConsumer(
        topics.source(EventKind.CONTACT),
        bootstrap_servers=kafka_cluster.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    try:
        (record,) = list(consumer)
    finally:
        consumer.close()
    assert record.value == avro
    assert DeadLetter.from_headers(list(record.headers)).source_offset == 41


def test_replay_needs_letters_or_all(env: dict[str, str]) -> None:
    result = _cli(env, "replay")
    assert result.exit_code == 2
    assert "PARTITION:OFFSET" in result.output
