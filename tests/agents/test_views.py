"""The person- and place-view agents, in memory and on the real broker (one body, two runs).

Each is checked against the oracle (:func:`streams.views.replay`): what the table and the SQL
store hold after the agent has folded a stream must equal a pure replay of that stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from schemas.codec import AvroCodec
from schemas.models import AgencyEvent, ErasureRequest, PersonEvent
from schemas.topics import Topics
from streams.agents import person_view, place_view
from streams.app import BackboneApp
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
            [(person_view.SOURCE_PARTITION, b"0"), (person_view.SOURCE_OFFSET, str(n).encode())],
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
            [(person_view.SOURCE_PARTITION, b"0"), (person_view.SOURCE_OFFSET, b"9999")],
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
