"""The person- and place-view agents, in memory and on the real broker (one body, two runs).

Each is checked against the oracle (:func:`streams.views.replay`): what the table and the SQL
store hold after the agent has folded a stream must equal a pure replay of that stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from uuid import UUID

import pytest
import pytest_asyncio

from schemas.codec import AvroCodec
from schemas.models import AgencyEvent, ErasureRequest, PersonEvent, PersonReset
from schemas.topics import Topics
from streams.agents import person_view, place_view
from streams.app import BackboneApp
from streams.headers import REPLAYED_BY, SOURCE_OFFSET, SOURCE_PARTITION
from streams.intake import DeadLetters
from streams.store import Store
from streams.views import replay
from tests.fixtures.streams import AgentHarness, Outputs, Published, run_agent, until
from tests.views.builders import erasure, story

pytestmark = pytest.mark.asyncio

PERSONS = ("p-ada", "p-bo", "p-cy", "p-di", "p-ed")


def _person_messages(
    codec: AvroCodec, topics: Topics, pairs: Sequence[tuple[str, AgencyEvent]]
) -> list[Published]:
    return [
        (topics.person_events, key.encode(), codec.encode(PersonEvent.of(key, event)))
        for key, event in pairs
    ]


@pytest_asyncio.fixture
async def person_agent(
    mode: str,
    bootstrap: str,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> AsyncIterator[AgentHarness]:
    def build(app: BackboneApp, output: Outputs) -> object:
        return person_view.register(
            app,
            codec=codec,
            views=store.views,
            place_events=output(app_topics.place_events),
            dead_letters=DeadLetters(output(app_topics.dead_letters), connector="person-view"),
        )

    async with run_agent(mode, agent_app, build, bootstrap) as running:
        yield running


@pytest_asyncio.fixture
async def place_agent(
    mode: str,
    bootstrap: str,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> AsyncIterator[AgentHarness]:
    def build(app: BackboneApp, output: Outputs) -> object:
        return place_view.register(
            app,
            codec=codec,
            views=store.views,
            dead_letters=DeadLetters(output(app_topics.dead_letters), connector="place-view"),
        )

    async with run_agent(mode, agent_app, build, bootstrap) as running:
        yield running


def _erasure_of(n: int) -> ErasureRequest:
    return erasure(n, datetime(2024, 9, 1, tzinfo=UTC))


async def test_person_views_equal_the_oracle_and_an_erased_person_is_gone(
    person_agent: AgentHarness,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> None:
    before = story(7, PERSONS, 150)
    late = story(8, ("p-bo",), 5, first_id=1000)
    pairs = [*before, ("p-bo", _erasure_of(999)), *late]
    await person_agent.publish(_person_messages(codec, app_topics, pairs))

    expected, _ = replay([*before, ("p-bo", _erasure_of(999))])
    await until(lambda: store.views.persons() == expected, "the person views")
    table = agent_app.tables["person-views"]
    # The table is written after the store, in the agent's next step.
    await until(lambda: {key: entry.view for key, entry in table.items()} == expected)
    assert "p-bo" in agent_app.tables["erased-persons"]
    assert store.views.applied([event.event_id for _, event in late]) == set()

    with_place = [(key, event) for key, event in before if event.place is not None]
    partitions = app_topics.partitions
    written = await person_agent.read(app_topics.place_events, len(with_place) + partitions)
    forwarded = [codec.decode_as(value, PersonEvent) for _, value, _ in written]
    erasures = [pe for pe in forwarded if isinstance(pe.event, ErasureRequest)]
    assert len(erasures) == partitions
    # Across partitions the order is Kafka's to choose; the set is not.
    assert sorted(
        (pe for pe in forwarded if pe not in erasures), key=lambda pe: pe.event.event_id
    ) == sorted(
        (PersonEvent.of(key, event) for key, event in with_place), key=lambda pe: pe.event.event_id
    )


async def test_place_views_equal_the_oracle_and_forget_an_erased_person(
    place_agent: AgentHarness,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> None:
    pairs = [(key, event) for key, event in story(9, PERSONS, 200) if event.place is not None]
    messages: list[Published] = [
        (
            app_topics.place_events,
            event.place.place_id.encode(),  # type: ignore[union-attr]  # reason: filtered above
            codec.encode(PersonEvent.of(key, event)),
            [(SOURCE_PARTITION, b"0"), (SOURCE_OFFSET, str(n).encode())],
        )
        for n, (key, event) in enumerate(pairs)
    ]
    # Re-forwarded after a crash: the same source offsets, skipped.
    messages += messages[-20:]
    erased = PersonEvent.of("p-cy", _erasure_of(999))
    messages += [
        (
            app_topics.place_events,
            b"p-cy",
            codec.encode(erased),
            [(SOURCE_PARTITION, b"0"), (SOURCE_OFFSET, b"9999")],
            partition,
        )
        for partition in range(app_topics.partitions)
    ]
    await place_agent.publish(messages)

    _, expected = replay([*pairs, ("p-cy", _erasure_of(999))])
    await until(lambda: store.views.places() == expected, "the place views")
    table = agent_app.tables["place-views"]
    await until(lambda: {key: entry.view for key, entry in table.items()} == expected)
    assert all("p-cy" not in view.persons_with_needs for view in expected.values())


# -- engineers' merges and splits ------------------------------------------------------------


def _reset(person_key: str) -> PersonReset:
    return PersonReset(
        person_key=person_key, decision_id=DECISION, decided_at=datetime(2024, 9, 2, tzinfo=UTC)
    )


DECISION = UUID(int=42)
REPLAYED = [(REPLAYED_BY, str(DECISION).encode())]


async def test_a_reset_and_replays_rebuild_the_person_views_under_the_new_keys(
    person_agent: AgentHarness,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> None:
    # p-bo is merged into p-ada: p-bo is reset, and their events come again under p-ada.
    before = story(10, PERSONS, 120)
    moved = [("p-ada", event) for key, event in before if key == "p-bo"]
    messages = _person_messages(codec, app_topics, before)
    messages.append((app_topics.person_events, b"p-bo", codec.encode(_reset("p-bo"))))
    messages += [(*message, REPLAYED) for message in _person_messages(codec, app_topics, moved)]
    await person_agent.publish(messages)

    merged = [("p-ada" if key == "p-bo" else key, event) for key, event in before]
    expected, _ = replay(merged)
    assert "p-bo" not in expected
    await until(lambda: store.views.persons() == expected, "the person views")
    table = agent_app.tables["person-views"]
    await until(
        lambda: {k: e.view for k, e in table.items() if e.view is not None} == expected,
        "the person table",
    )
    assert table["p-bo"].view is None

    with_place = [event for _, event in before if event.place is not None]
    moved_with_place = [event for _, event in moved if event.place is not None]
    partitions = app_topics.partitions
    count = len(with_place) + partitions + len(moved_with_place)
    forwarded = await person_agent.read(app_topics.place_events, count)
    decoded = [codec.decode(value) for _, value, _ in forwarded]
    assert [m for m in decoded if isinstance(m, PersonReset)] == [_reset("p-bo")] * partitions
    replays = [
        codec.decode_as(value, PersonEvent)
        for _, value, headers in forwarded
        if dict(headers).get(REPLAYED_BY) == str(DECISION).encode()
    ]
    assert sorted(pe.event.event_id for pe in replays) == sorted(
        e.event_id for e in moved_with_place
    )
    assert {pe.person_key for pe in replays} == {"p-ada"}


async def test_a_reset_and_replays_move_needs_to_the_new_keys_without_counting_twice(
    place_agent: AgentHarness,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> None:
    pairs = [(key, event) for key, event in story(11, PERSONS, 200) if event.place is not None]

    def forwarded(
        key: str, message: PersonEvent | PersonReset, offset: int, *extra: tuple[str, bytes]
    ) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes]], int | None]]:
        headers = [(SOURCE_PARTITION, b"0"), (SOURCE_OFFSET, str(offset).encode()), *extra]
        if isinstance(message, PersonReset):
            return [
                (app_topics.place_events, key.encode(), codec.encode(message), headers, partition)
                for partition in range(app_topics.partitions)
            ]
        place = message.event.place
        assert place is not None
        return [
            (app_topics.place_events, place.place_id.encode(), codec.encode(message), headers, None)
        ]

    messages: list[Published] = []
    for n, (key, event) in enumerate(pairs):
        messages += forwarded(key, PersonEvent.of(key, event), n)
    # p-bo is split: every other event of theirs moves to p-new. The reset, then each of
    # p-bo's events replayed under the key it now belongs to.
    reset = forwarded("p-bo", _reset("p-bo"), 1000)
    messages += reset
    theirs = [event for key, event in pairs if key == "p-bo"]
    new_key = {event.event_id: ("p-new" if n % 2 else "p-bo") for n, event in enumerate(theirs)}
    for n, event in enumerate(theirs, start=1001):
        key = new_key[event.event_id]
        messages += forwarded(key, PersonEvent.of(key, event), n, *REPLAYED)
    # Redelivered after a crash upstream, the reset must not undo what the replays noted.
    messages += reset
    await place_agent.publish(messages)

    _, expected = replay([(new_key.get(event.event_id, key), event) for key, event in pairs])
    for key in ("p-bo", "p-new"):
        assert any(key in view.persons_with_needs for view in expected.values())
    await until(lambda: store.views.places() == expected, "the place views")
    table = agent_app.tables["place-views"]
    await until(lambda: {key: entry.view for key, entry in table.items()} == expected)
