"""What every agent test shares: the two runs (in memory, on the broker) and their parts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.registry import EmbeddedSchemaRegistry
from schemas.topics import Topics
from streams.app import BackboneApp, StreamsConfig, create_app
from streams.store import Store
from tests.fixtures.kafka import KafkaCluster


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def mode(request: pytest.FixtureRequest) -> str:
    """Each agent test runs twice: under ``test_context()``, and on the real broker."""
    return str(request.param)


@pytest.fixture
def bootstrap(mode: str, request: pytest.FixtureRequest) -> str:
    """The real broker for the kafka run; the memory run never connects."""
    if mode == "memory":
        return "127.0.0.1:9"
    cluster: KafkaCluster = request.getfixturevalue("kafka_cluster")
    return cluster.bootstrap


@pytest.fixture
def app_topics(mode: str, request: pytest.FixtureRequest) -> Topics:
    """Unique, pre-created topics on the broker; fixed names in memory."""
    if mode == "memory":
        return Topics(prefix="memory", partitions=1)
    topics: Topics = request.getfixturevalue("topics")
    return topics


@pytest.fixture
def codec(tmp_path: Path) -> AvroCodec:
    return AvroCodec(EmbeddedSchemaRegistry(tmp_path / "schemas.sqlite"), Catalog.load())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'backbone.db'}") as opened:
        yield opened


@pytest.fixture
def agent_app(bootstrap: str, app_topics: Topics, tmp_path: Path) -> BackboneApp:
    """A fresh app with the embedded broker's fast-join timings."""
    return create_app(
        StreamsConfig(
            brokers=(bootstrap,),
            topics=app_topics,
            app_id=app_topics.prefix,
            data_dir=tmp_path,
            session_timeout=2.0,
            heartbeat_interval=0.5,
            fetch_max_wait=0.1,
        )
    )
