"""A table survives a worker restart: a new worker restores it in full from its changelog.

The embedded broker reports a changelog's end offset as the last batch's base offset + 1, so
a recovery trusting it stops early and serves a stale table without a word
(``../shared/notes/broker.md``). Here many changelog records share batches, which is what
exposes the bug; ``streams.transport`` confirms each end offset by fetching.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faust.contrib.asgi import faust_app_running
from kafka import KafkaProducer

from backbone.broker import create_topics
from schemas.topics import Topics, TopicSpec
from streams import transport
from streams.app import BackboneApp, StreamsConfig, create_app
from tests.fixtures.kafka import KafkaCluster
from tests.fixtures.streams import WAIT, until

pytestmark = [pytest.mark.asyncio, pytest.mark.kafka]

KEYS = 300


def _app(cluster: KafkaCluster, topics: Topics, data_dir: Path, **options: Any) -> BackboneApp:
    """A worker as ``agent_app`` builds it: same app id and data dir on every start."""
    return create_app(
        StreamsConfig(
            brokers=(cluster.bootstrap,),
            topics=topics,
            app_id=topics.prefix,
            data_dir=data_dir,
            session_timeout=2.0,
            heartbeat_interval=0.5,
            fetch_max_wait=0.1,
            broker_options=options,
        )
    )


def _latest_table(app: BackboneApp, source: str, *, writes: bool) -> Any:
    """The table under test, and an agent on ``source`` that fills it only if ``writes``.

    The restarted worker's agent must not write: replayed input would then rebuild the
    table and hide a recovery that stopped early.
    """
    table = app.Table("latest", key_type=str, value_type=str, partitions=app.conf.topic_partitions)

    @app.agent(app.raw_topic(source), name="recorder")
    async def recorder(stream: Any) -> None:
        async for key, value in stream.items():
            if writes:
                table[key.decode()] = value.decode()

    return table


def _create_topics(cluster: KafkaCluster, app: BackboneApp, source: str) -> None:
    """The input and the changelog, with the app's partitions (the broker would pick 4)."""
    partitions = app.conf.topic_partitions
    names = [source, *app.changelog_topic_names()]
    create_topics(cluster.bootstrap, [TopicSpec(name, partitions) for name in names])


def _publish(bootstrap: str, messages: list[tuple[str, bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    try:
        for topic, key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def _holds(table: Any, expected: dict[str, str]) -> Callable[[], bool]:
    return lambda: all(table.get(key) == value for key, value in expected.items())


async def test_a_restarted_worker_restores_every_key_from_the_changelog(
    kafka_cluster: KafkaCluster, topics: Topics, tmp_path: Path
) -> None:
    source = f"{topics.prefix}.recovery-input"
    # A producer linger packs the changelog into large batches, as a busy worker would.
    first = _app(kafka_cluster, topics, tmp_path, producer_linger=0.1)
    table = _latest_table(first, source, writes=True)
    _create_topics(kafka_cluster, first, source)
    # Every key twice, so that "latest" means something: only the second value may survive.
    keys = [f"person-{index:03d}" for index in range(KEYS)]
    expected = {key: f"second-{key}" for key in keys}
    messages = [
        (source, key.encode(), f"{round_}-{key}".encode())
        for round_ in ("first", "second")
        for key in keys
    ]
    # Published before the worker starts, so the agent meets them in bulk and its changelog
    # producer packs many records into each batch.
    await asyncio.to_thread(_publish, kafka_cluster.bootstrap, messages)

    async with faust_app_running(first):
        await until(_holds(table, expected), "the first worker's table")

    restarted = _app(kafka_cluster, topics, tmp_path)
    restored = _latest_table(restarted, source, writes=False)
    async with faust_app_running(restarted):
        await asyncio.wait_for(restarted.tables.recovery.completed.wait(), WAIT)
        held = {key: restored.get(key) for key in keys}

    missing = sorted(key for key, value in held.items() if value is None)
    assert not missing, f"{len(missing)} of {KEYS} keys were not restored, e.g. {missing[:3]}"
    assert held == expected


async def test_a_worker_whose_end_offsets_cannot_be_confirmed_crashes(
    kafka_cluster: KafkaCluster, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No fallback to the reported ends: a worker that may restore a stale table stops."""
    # Only the probe is sent nowhere: the worker itself joins and starts its recovery.
    monkeypatch.setattr(transport, "server_list", lambda urls, default_port: ["127.0.0.1:9"])
    source = f"{topics.prefix}.recovery-input"
    app = _app(kafka_cluster, topics, tmp_path)
    _latest_table(app, source, writes=True)
    _create_topics(kafka_cluster, app, source)
    async with faust_app_running(app):
        await until(lambda: app.crash_reason is not None, "the worker to crash")
        assert isinstance(app.crash_reason, transport.HighwaterUnconfirmedError)
        assert not app.tables.recovery.completed.is_set()
