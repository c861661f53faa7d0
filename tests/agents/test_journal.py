"""The journal agent, in memory and end to end on the real broker (one body, two runs).

The broker run is the foundation's end-to-end test: JSON validated by the contracts,
Avro-encoded, published with kafka-python, read by a Faust agent and decoded to the models.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from schemas.codec import AvroCodec
from schemas.deadletter import DeadLetter
from schemas.models import MODEL_OF_KIND, AgencyEvent
from schemas.topics import EventKind, Topics
from streams.agents import journal
from streams.app import BackboneApp
from streams.intake import DeadLetters, Decoder
from streams.store import Store
from tests.fixtures.streams import AgentHarness, Outputs, Published, run_agent, until
from tests.samples import sample_events

pytestmark = pytest.mark.asyncio


def _kind_of(event: AgencyEvent) -> EventKind:
    return next(kind for kind, model in MODEL_OF_KIND.items() if isinstance(event, model))


@pytest_asyncio.fixture
async def harness(
    mode: str,
    bootstrap: str,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> AsyncIterator[AgentHarness]:

    def build(target_app: BackboneApp, output: Outputs) -> object:
        dead_letters = DeadLetters(output(app_topics.dead_letters), connector="journal")
        decoder = Decoder(codec, app_topics, dead_letters)
        return journal.register(target_app, decoder, store, output(app_topics.identity_queue))

    async with run_agent(mode, agent_app, build, bootstrap) as running:
        yield running


def _encoded(codec: AvroCodec, topics: Topics) -> tuple[list[AgencyEvent], list[Published]]:
    """Every kind, parsed from JSON as an agency sends it, then Avro-encoded."""
    events = [type(s).model_validate_json(s.model_dump_json()) for s in sample_events()]
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
    harness: AgentHarness, app_topics: Topics, codec: AvroCodec, store: Store
) -> None:
    events, messages = _encoded(codec, app_topics)
    await harness.publish(messages)
    await until(lambda: store.journal.count() == len(events))
    for event in events:
        entry = store.journal.get(event.event_id)
        assert entry is not None
        kind = _kind_of(event)
        assert entry.kind == kind.value
        assert entry.source_topic == app_topics.source(kind)
        decoded = MODEL_OF_KIND[kind].model_validate_json(entry.payload)
        assert decoded == event
        assert decoded.model_dump() == event.model_dump()
    # Recorded, each event goes on unchanged to identity resolution.
    passed_on = await harness.read(app_topics.identity_queue, len(events))
    assert sorted(value for _, value, _ in passed_on) == sorted(v for _, _, v, *_ in messages)


async def test_a_replay_records_nothing_twice(
    harness: AgentHarness, app_topics: Topics, codec: AvroCodec, store: Store
) -> None:
    events, messages = _encoded(codec, app_topics)
    await harness.publish(messages)
    await until(lambda: store.journal.count() == len(events))
    last = max(entry.position or 0 for entry in store.journal.entries())
    await harness.publish(messages)
    # A marker after the replay: once it is journaled, the replay has been consumed.
    marker = sample_events()[1].model_copy(update={"event_id": uuid.uuid4()})
    await harness.publish([(app_topics.source(EventKind.CONTACT), b"m", codec.encode(marker))])
    await until(lambda: store.journal.get(marker.event_id) is not None, "the marker")
    assert store.journal.count() == len(events) + 1
    assert [entry.event_id for entry in store.journal.entries(since_position=last)] == [
        marker.event_id
    ]


async def test_poison_is_dead_lettered_untouched_and_processing_goes_on(
    harness: AgentHarness, app_topics: Topics, codec: AvroCodec, store: Store
) -> None:
    events, messages = _encoded(codec, app_topics)
    contact_topic = app_topics.source(EventKind.CONTACT)
    referral = next(v for t, _, v in messages if t == app_topics.source(EventKind.REFERRAL))
    contact = next(v for t, _, v in messages if t == contact_topic)
    poison = {
        "short": b"\x00\x00",
        "magic_byte": b"\x01\x00\x00\x00\x01abc",
        "truncated": contact[:-3],
        "unknown_schema_id": b"\x00\x7f\xff\xff\xf0body",
        "unexpected_record": referral,  # valid Avro, but a Referral on the contacts topic
    }
    await harness.publish([(contact_topic, b"k", value) for value in poison.values()])
    await harness.publish(messages)
    await until(lambda: store.journal.count() == len(events))
    letters = await harness.dead_letters(len(poison))
    assert [value for value, _ in letters] == list(poison.values())
    for (_, letter), reason in zip(letters, poison, strict=True):
        assert letter.source_topic == contact_topic
        assert letter.connector == "journal"
        assert letter.error_class == "MalformedEventError"
        assert letter.attempts == 1
        assert letter.error_message.startswith(f"{reason}: ")
    assert len({letter.source_offset for _, letter in letters}) == len(poison)


async def test_a_replayed_letter_that_fails_again_counts_one_more_attempt(
    harness: AgentHarness, app_topics: Topics
) -> None:
    first = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    earlier = DeadLetter(
        app_topics.source(EventKind.CONTACT), 0, 7, "journal", "E", "m", None, 1, first
    )
    await harness.publish(
        [(app_topics.source(EventKind.CONTACT), b"k", b"\x00\x00", earlier.headers())]
    )
    ((_, letter),) = await harness.dead_letters(1)
    assert letter.attempts == 2
    assert letter.first_failure == first
