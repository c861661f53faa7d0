"""The foundation end to end: JSON in, Avro on a real broker, a Faust agent, models out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from faust.contrib.asgi import faust_app_running
from kafka import KafkaConsumer, KafkaProducer

from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.deadletter import DeadLetter
from schemas.models import MODEL_OF_KIND, AgencyEvent
from schemas.registry import EmbeddedSchemaRegistry
from schemas.topics import EventKind, Topics
from streams.agents import journal
from streams.app import BackboneApp, StreamsConfig, create_app
from streams.intake import DeadLetters, Decoder
from streams.store import Store
from tests.fixtures.kafka import KafkaCluster
from tests.samples import sample_events

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

_WAIT = 30.0


def _kind_of(event: AgencyEvent) -> EventKind:
    return next(kind for kind, model in MODEL_OF_KIND.items() if isinstance(event, model))


@pytest.fixture
def codec(tmp_path: Path) -> AvroCodec:
    return AvroCodec(EmbeddedSchemaRegistry(tmp_path / "schemas.sqlite"), Catalog.load())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'backbone.db'}") as opened:
        yield opened


@pytest_asyncio.fixture
async def worker(
    kafka_cluster: KafkaCluster, topics: Topics, codec: AvroCodec, store: Store, tmp_path: Path
) -> AsyncIterator[BackboneApp]:
    app = create_app(
        StreamsConfig(
            brokers=(kafka_cluster.bootstrap,),
            topics=topics,
            app_id=topics.prefix,
            data_dir=tmp_path,
            session_timeout=2.0,
            heartbeat_interval=0.5,
            fetch_max_wait=0.1,
        )
    )
    dead_letters = DeadLetters(app, topics, connector="journal")
    journal.register(app, Decoder(codec, topics, dead_letters), store)
    async with faust_app_running(app):
        yield app


def _publish(bootstrap: str, messages: list[tuple[str, bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for topic, key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        await asyncio.sleep(0.1)


def _encoded(
    codec: AvroCodec, topics: Topics
) -> tuple[list[AgencyEvent], list[tuple[str, bytes, bytes]]]:
    """Every kind, parsed from JSON as an agency would send it, then Avro-encoded."""
    events = [
        type(sample).model_validate_json(sample.model_dump_json()) for sample in sample_events()
    ]
    assert {_kind_of(event) for event in events} == set(EventKind)
    messages = [
        (
            topics.source(_kind_of(event)),
            f"{event.agency}:{event.person.local_id}".encode(),
            codec.encode(event),
        )
        for event in events
    ]
    return events, messages


async def test_every_event_kind_reaches_the_agent_field_for_field(
    worker: BackboneApp, kafka_cluster: KafkaCluster, topics: Topics, codec: AvroCodec, store: Store
) -> None:
    events, messages = _encoded(codec, topics)
    await asyncio.to_thread(_publish, kafka_cluster.bootstrap, messages)
    await _until(lambda: store.journal.count() == len(events))
    for event in events:
        entry = store.journal.get(event.event_id)
        assert entry is not None
        kind = _kind_of(event)
        assert entry.kind == kind.value
        assert entry.source_topic == topics.source(kind)
        decoded = MODEL_OF_KIND[kind].model_validate_json(entry.payload)
        assert decoded == event
        assert decoded.model_dump() == event.model_dump()


async def test_a_replay_records_nothing_twice(
    worker: BackboneApp, kafka_cluster: KafkaCluster, topics: Topics, codec: AvroCodec, store: Store
) -> None:
    events, messages = _encoded(codec, topics)
    await asyncio.to_thread(_publish, kafka_cluster.bootstrap, messages + messages)
    await _until(lambda: store.journal.count() >= len(events))
    # Both copies have been consumed once the last offset is journaled; give it time.
    await asyncio.sleep(1.0)
    assert store.journal.count() == len(events)


def _dead_letters(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, DeadLetter]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(_WAIT * 1000),
        group_id=None,
    )
    found: list[tuple[bytes, DeadLetter]] = []
    try:
        for record in consumer:
            found.append((record.value, DeadLetter.from_headers(list(record.headers))))
            if len(found) == expected:
                break
    finally:
        consumer.close()
    return found


async def test_poison_is_dead_lettered_untouched_and_processing_goes_on(
    worker: BackboneApp, kafka_cluster: KafkaCluster, topics: Topics, codec: AvroCodec, store: Store
) -> None:
    events, messages = _encoded(codec, topics)
    contact_topic = topics.source(EventKind.CONTACT)
    referral_bytes = next(
        value for topic, _, value in messages if topic == topics.source(EventKind.REFERRAL)
    )
    poison = [
        b"",
        b"\x01\x00\x00\x00\x01abc",
        referral_bytes[:-3],
        b"\x00\xff\xff\xff\xf0body",
        referral_bytes,
    ]
    await asyncio.to_thread(
        _publish,
        kafka_cluster.bootstrap,
        [(contact_topic, b"k", value) for value in poison] + messages,
    )
    await _until(lambda: store.journal.count() == len(events))
    letters = await asyncio.to_thread(
        _dead_letters, kafka_cluster.bootstrap, topics.dead_letters, len(poison)
    )
    assert sorted(value for value, _ in letters) == sorted(poison)
    reasons = {letter.error_message.split(":")[0] for _, letter in letters}
    assert all(letter.source_topic == contact_topic for _, letter in letters)
    assert all(letter.connector == "journal" for _, letter in letters)
    assert all(letter.error_class == "MalformedEventError" for _, letter in letters)
    assert len({letter.source_offset for _, letter in letters}) == len(poison), reasons
