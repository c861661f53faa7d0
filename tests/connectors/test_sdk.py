"""The Python SDK, in memory and on the real broker (one body, two runs)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from connectors import Publisher, RejectedEventError
from connectors.errors import InvalidEventError
from connectors.ingest import Status
from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.models import AgencyEvent, Contact, Referral
from schemas.registry import EmbeddedSchemaRegistry
from schemas.topics import EventKind, Topics
from tests.fixtures.connectors import MemoryLedger, MemorySink
from tests.samples import sample_events


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def topics(mode: str, request: pytest.FixtureRequest) -> Topics:
    if mode == "memory":
        return Topics(prefix="memory")
    found: Topics = request.getfixturevalue("topics")
    return found


class Published:
    """What reached each source topic, decoded, whichever way the SDK ran."""

    def __init__(
        self, mode: str, topics: Topics, data_dir: Path, request: pytest.FixtureRequest
    ) -> None:
        self.mode, self.topics = mode, topics
        self.codec = AvroCodec(EmbeddedSchemaRegistry(data_dir / "schemas.sqlite"), Catalog.load())
        self.sink = MemorySink() if mode == "memory" else None
        self.bootstrap = (
            "" if mode == "memory" else request.getfixturevalue("kafka_cluster").bootstrap
        )

    def on(self, kind: EventKind, expected: int) -> list[object]:
        topic = self.topics.source(kind)
        if self.sink is not None:
            return [self.codec.decode(message.value) for message in self.sink.on(topic)]
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=1500,
        )
        try:
            found = []
            for record in consumer:
                found.append(self.codec.decode(record.value))
                if len(found) > expected:
                    break
            return found
        finally:
            consumer.close()


@pytest.fixture
def published(
    mode: str, topics: Topics, tmp_path: Path, request: pytest.FixtureRequest
) -> Published:
    return Published(mode, topics, tmp_path, request)


@pytest.fixture
def publisher(published: Published, tmp_path: Path) -> Iterator[Publisher]:
    with Publisher(
        agency=AGENCY,
        bootstrap_servers=[published.bootstrap] if published.bootstrap else [],
        topic_prefix=published.topics.prefix,
        data_dir=tmp_path,
        sink=published.sink,
        ledger=MemoryLedger(),
    ) as opened:
        yield opened


AGENCY = "council"


def _events() -> list[AgencyEvent]:
    """One event of each kind, all the publisher's own."""
    return [event.model_copy(update={"agency": AGENCY}) for event in sample_events()]


def _of(kind: type) -> object:
    return next(event for event in _events() if isinstance(event, kind))


def test_typed_methods_publish_each_kind(publisher: Publisher, published: Published) -> None:
    referral, contact = _of(Referral), _of(Contact)
    assert publisher.referral(referral) == referral.event_id  # type: ignore[arg-type,attr-defined]
    assert publisher.contact(contact) == contact.event_id  # type: ignore[arg-type,attr-defined]
    assert published.on(EventKind.REFERRAL, 1) == [referral]
    assert published.on(EventKind.CONTACT, 1) == [contact]


def test_mappings_are_taken_as_the_http_api_takes_them(
    publisher: Publisher, published: Published
) -> None:
    contact = _of(Contact)
    publisher.contact(json.loads(contact.model_dump_json()))  # type: ignore[attr-defined]
    assert published.on(EventKind.CONTACT, 1) == [contact]


def test_batch_answers_per_event_and_publishes_once(
    publisher: Publisher, published: Published
) -> None:
    events = _events()
    outcomes = publisher.publish_many(events)
    assert [outcome.status for outcome in outcomes] == [Status.ACCEPTED] * len(events)
    again = publisher.publish_many(events)
    assert [outcome.status for outcome in again] == [Status.REPEAT] * len(events)
    assert published.on(EventKind.CONTACT, 1) == [_of(Contact)]


def test_invalid_event_raises_naming_the_field(publisher: Publisher) -> None:
    body = json.loads(_of(Contact).model_dump_json())  # type: ignore[attr-defined]
    body["outcome"] = "vanished"
    with pytest.raises(InvalidEventError) as caught:
        publisher.contact(body)
    assert [error.loc for error in caught.value.errors] == ["outcome"]


def test_conflicting_body_is_refused(publisher: Publisher) -> None:
    contact = _of(Contact)
    publisher.contact(contact)  # type: ignore[arg-type]
    changed = contact.model_copy(update={"team": "another-team"})  # type: ignore[attr-defined]
    with pytest.raises(RejectedEventError) as caught:
        publisher.contact(changed)
    assert caught.value.status == Status.CONFLICT


def test_another_agencys_event_is_forbidden(publisher: Publisher) -> None:
    foreign = _of(Contact).model_copy(  # type: ignore[attr-defined]
        update={"agency": "elsewhere", "event_id": uuid.uuid4()}
    )
    with pytest.raises(RejectedEventError) as caught:
        publisher.contact(foreign)
    assert caught.value.status == Status.FORBIDDEN


def test_wrong_model_for_the_method_is_invalid(publisher: Publisher) -> None:
    with pytest.raises(InvalidEventError, match="expected a Contact"):
        publisher.contact(_of(Referral))  # type: ignore[arg-type]
