"""``backbone up`` as a user runs it: a real process, real signals, a real broker."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from schemas.codec import AvroCodec
from schemas.models import PersonEvent, PersonRef
from schemas.registry import EmbeddedSchemaRegistry
from streams.store import Store
from tests.fixtures.kafka import KafkaCluster
from tests.fixtures.up import READY_TIMEOUT, STOP_TIMEOUT, all_gone, wait_healthy
from tests.samples import sample_events


def test_up_on_embedded_defaults_answers_healthz_and_stops_on_ctrl_c(start_up) -> None:  # type: ignore[no-untyped-def]
    running = start_up()
    wait_healthy(running)
    status, health = running.get("/healthz")
    assert status == 200
    assert health["broker"] == {
        "status": "up",
        "bootstrap": health["broker"]["bootstrap"],  # type: ignore[index]
        "embedded": True,
    }
    assert health["store"] == {"status": "up"}
    assert health["worker"] == {"status": "ready"}
    run_file = json.loads((running.log.parent / ".backbone" / "run.json").read_text())
    assert run_file["bootstrap"] == health["broker"]["bootstrap"]  # type: ignore[index]
    assert run_file["http"] == running.url
    with urllib.request.urlopen(running.url + "/metrics", timeout=2) as response:
        assert b"backbone_ingest_accepted" in response.read()
    openapi_status, openapi = running.get("/openapi.json")
    assert openapi_status == 200
    assert "/healthz" in openapi["paths"]  # type: ignore[operator]
    children = running.descendants()
    assert any("tansu" in " ".join(child.cmdline()) for child in children)

    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(STOP_TIMEOUT) == 0, running.output()
    assert all_gone(children), "a process outlived backbone up"
    assert not (running.log.parent / ".backbone" / "run.json").exists()
    assert "Relational Backbone is up" in running.output()


def test_sigterm_stops_everything(start_up) -> None:  # type: ignore[no-untyped-def]
    running = start_up()
    wait_healthy(running)
    children = running.descendants()
    running.process.terminate()
    assert running.process.wait(STOP_TIMEOUT) == 0, running.output()
    assert all_gone(children)


def test_kill_9_leaves_no_orphan_broker(start_up) -> None:  # type: ignore[no-untyped-def]
    running = start_up()
    wait_healthy(running)
    children = running.descendants()
    running.process.kill()
    running.process.wait()
    assert all_gone(children), "the embedded broker outlived a kill -9 of backbone up"


def test_broker_death_stops_up_with_a_clear_message(start_up) -> None:  # type: ignore[no-untyped-def]
    running = start_up()
    wait_healthy(running)
    (broker,) = [c for c in running.descendants() if "tansu" in " ".join(c.cmdline())]
    broker.kill()
    assert running.process.wait(STOP_TIMEOUT) == 1
    assert "the embedded broker exited" in running.output()


@pytest.mark.kafka
def test_up_uses_the_given_bootstrap(start_up, kafka_cluster: KafkaCluster) -> None:  # type: ignore[no-untyped-def]
    running = start_up("--bootstrap", kafka_cluster.bootstrap)
    wait_healthy(running)
    _, health = running.get("/healthz")
    assert health["broker"]["embedded"] is False  # type: ignore[index]
    assert health["broker"]["bootstrap"] == [kafka_cluster.bootstrap]  # type: ignore[index]
    assert not any("tansu" in " ".join(c.cmdline()) for c in running.descendants())
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(STOP_TIMEOUT) == 0


def test_an_event_posted_over_http_reaches_the_journal(start_up, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The whole path: HTTP ingest, the embedded broker, the journal agent, the SQL store."""
    contact = sample_events()[1]
    config = tmp_path / "backbone.yaml"
    config.write_text(f"agencies:\n  - id: {contact.agency}\n    token: dev-token\n")
    running = start_up("--config", str(config))
    wait_healthy(running)
    for _ in range(2):  # the second is a repeat: accepted, recorded once
        request = urllib.request.Request(
            running.url + "/v1/events/contact",
            data=contact.model_dump_json().encode(),
            headers={"Authorization": "Bearer dev-token", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
            assert json.loads(response.read())["event_id"] == str(contact.event_id)
    with Store.open(f"sqlite:///{tmp_path / '.backbone' / 'backbone.db'}") as store:
        deadline = time.monotonic() + READY_TIMEOUT
        while store.journal.get(contact.event_id) is None:
            assert time.monotonic() < deadline, running.output()
            time.sleep(0.1)
        assert store.journal.count() == 1
        assert store.accepted.count() == 1
    (person_event,) = _person_events(tmp_path / ".backbone", expected=1)
    assert person_event.event.event_id == contact.event_id
    assert person_event.event.person == PersonRef(local_id=contact.person.local_id)
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(STOP_TIMEOUT) == 0


def _person_events(data_dir: Path, expected: int) -> list[PersonEvent]:
    """What identity resolution emitted, read from the running backbone's broker."""
    bootstrap = json.loads((data_dir / "run.json").read_text())["bootstrap"]
    codec = AvroCodec(EmbeddedSchemaRegistry(data_dir / "schemas.sqlite"))
    consumer = KafkaConsumer(
        "backbone.person-events",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(READY_TIMEOUT * 1000),
    )
    found: list[PersonEvent] = []
    try:
        for record in consumer:
            found.append(codec.decode_as(record.value, PersonEvent))
            if len(found) == expected:
                break
    finally:
        consumer.close()
    return found
