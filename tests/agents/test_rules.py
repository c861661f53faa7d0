"""The rules agents, in memory and on the real broker (one body, two runs).

Each is checked against the oracle (:func:`streams.rules.replay_alerts`): the alerts on the
alerts topic and in the SQL store must be the ones a pure replay of the same events raises,
with the same ids, and the same events again must raise nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
import pytest_asyncio
from kafka import KafkaConsumer
from sqlalchemy import select

from schemas.codec import AvroCodec
from schemas.models import Alert, PersonEvent, PersonReset
from schemas.topics import Topics
from streams.agents import rules
from streams.app import BackboneApp
from streams.headers import REPLAYED_BY, SOURCE_OFFSET, SOURCE_PARTITION
from streams.intake import DeadLetters
from streams.rules import default_rule_pack, replay_alerts
from streams.store import Store
from streams.store.alerts import AlertRow
from tests.fixtures.streams import AgentHarness, Outputs, Published, run_agent, until
from tests.rules.support import contact, food_referral, missed, referral, volunteer_action
from tests.views.builders import PLACE

pytestmark = pytest.mark.asyncio

#: How long to look for alerts beyond the expected ones before deciding there are none.
QUIET = 2.0


def _builder(
    codec: AvroCodec, store: Store, topics: Topics, which: str
) -> Callable[[BackboneApp, Outputs], object]:
    def build(app: BackboneApp, output: Outputs) -> object:
        agents = rules.register(
            app,
            codec=codec,
            pack=default_rule_pack(),
            alerts=output(topics.alerts),
            store=store.alerts,
            dead_letters=DeadLetters(output(topics.dead_letters), connector="rules"),
        )
        return agents.person if which == "person" else agents.place

    return build


@pytest_asyncio.fixture
async def person_rules(
    mode: str,
    bootstrap: str,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> AsyncIterator[AgentHarness]:
    build = _builder(codec, store, app_topics, "person")
    async with run_agent(mode, agent_app, build, bootstrap) as running:
        yield running


@pytest_asyncio.fixture
async def place_rules(
    mode: str,
    bootstrap: str,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> AsyncIterator[AgentHarness]:
    build = _builder(codec, store, app_topics, "place")
    async with run_agent(mode, agent_app, build, bootstrap) as running:
        yield running


def _stored_ids(store: Store) -> list[str]:
    with store.engine.connect() as connection:
        return list(connection.execute(select(AlertRow.alert_id)).scalars())


async def _all_written(
    mode: str, harness: AgentHarness, bootstrap: str, topic: str, count: int
) -> list[bytes]:
    """The ``count`` alerts expected on ``topic``, and any more that come within QUIET."""
    written = await harness.read(topic, count)
    if mode == "memory":
        with contextlib.suppress(TimeoutError):
            written = await asyncio.wait_for(harness.read(topic, count + 1), QUIET)
    else:
        written = await asyncio.to_thread(_consume_all, bootstrap, topic)
    return [value for _, value, _ in written]


def _consume_all(bootstrap: str, topic: str) -> list[tuple[Any, bytes, Any]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(QUIET * 1000),
    )
    try:
        return [(record.key, record.value, record.headers) for record in consumer]
    finally:
        consumer.close()


def _person_messages(
    codec: AvroCodec, topics: Topics, events: Sequence[PersonEvent | PersonReset], *extra: Any
) -> list[Published]:
    return [
        (topics.person_events, event.person_key.encode(), codec.encode(event), *extra)
        for event in events
    ]


# Events in time order; days after a Monday. The last one, of another person, moves the clock
# past every moment before it, whichever partition it lands on.
STORY: list[PersonEvent] = [
    missed(1, 0, person="p-ann", team="district-nursing"),
    contact(2, 0.5, person="p-eve"),
    missed(3, 1, person="p-cal"),
    volunteer_action(4, 2, person="p-bob", concern_raised=True),
    contact(5, 3, person="p-dan"),
    contact(6, 3.5, person="p-eve"),
    volunteer_action(7, 4, person="p-dan"),
    missed(8, 5, person="p-ann", team="housing-options"),
    contact(9, 6, person="p-eve"),
    missed(10, 20, person="p-cal"),
    referral(11, 30, person="p-fay"),
]


async def test_person_alerts_equal_the_oracle_and_come_once(
    mode: str,
    bootstrap: str,
    person_rules: AgentHarness,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> None:
    pack = default_rule_pack()
    expected = replay_alerts(STORY, pack)
    by_rule = {(alert.rule_id, alert.subject) for alert in expected}
    # missed-contacts across teams, a volunteer's concern, and p-eve gone quiet (an absence
    # noticed when p-fay's event moves the clock); p-cal's misses are too far apart.
    assert by_rule == {
        ("missed-contacts", "p-ann"),
        ("volunteer-concern", "p-bob"),
        ("gone-quiet", "p-eve"),
    }
    expected_ids = {alert.alert_id for alert in expected}

    await person_rules.publish(_person_messages(codec, app_topics, STORY))
    await until(lambda: set(_stored_ids(store)) == expected_ids, "the stored alerts")
    table = agent_app.tables["person-rules"]
    first = {key: entry.offset for key, entry in table.items()}
    assert set(first) == {event.person_key for event in STORY}

    # The same events again (a replay upstream): at new offsets, folded, raising nothing.
    await person_rules.publish(_person_messages(codec, app_topics, STORY))

    def refolded() -> bool:
        partitions = {entry.partition for entry in table.values()}
        ends = {
            p: 1 + max(first[k] for k, e in table.items() if e.partition == p) for p in partitions
        }
        return all(
            entry.offset == first[key] + ends[entry.partition] for key, entry in table.items()
        )

    await until(refolded, "the second round")
    stored = _stored_ids(store)
    assert sorted(stored) == sorted(expected_ids)
    written = await _all_written(mode, person_rules, bootstrap, app_topics.alerts, len(expected))
    alerts = [codec.decode_as(value, Alert) for value in written]
    assert sorted(alert.alert_id for alert in alerts) == sorted(expected_ids)
    assert {alert.alert_id: alert for alert in alerts} == {a.alert_id: a for a in expected}
    assert all(
        store.alerts.get(alert.alert_id).alert == alert  # type: ignore[union-attr]
        for alert in expected
    )


# -- engineers' merges and splits ------------------------------------------------------------

DECISION = "00000000-0000-0000-0000-00000000002a"


async def test_a_reset_keeps_what_was_raised_and_the_replayed_events_raise_nothing_new(
    person_rules: AgentHarness,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> None:
    concern = volunteer_action(1, 2, person="p-bob", concern_raised=True)
    later = referral(2, 30, person="p-bob")
    expected = replay_alerts([concern, later], default_rule_pack())
    assert [alert.rule_id for alert in expected] == ["volunteer-concern"]
    await person_rules.publish(_person_messages(codec, app_topics, [concern, later]))
    await until(lambda: set(_stored_ids(store)) == {expected[0].alert_id}, "the alert")

    reset = PersonReset(
        person_key="p-bob", decision_id=DECISION, decided_at=concern.event.occurred_at
    )
    replayed = _person_messages(
        codec, app_topics, [concern, later], [(REPLAYED_BY, DECISION.encode())]
    )
    await person_rules.publish([*_person_messages(codec, app_topics, [reset]), *replayed])
    table = agent_app.tables["person-rules"]
    # Five messages went to p-bob's partition, at offsets 0 to 4.
    await until(lambda: table["p-bob"].offset == 4, "the replayed events")
    entry = table["p-bob"]
    assert entry.state is not None
    assert entry.state.record("volunteer-concern").open_alert == expected[0].alert_id
    assert {a.event_id for a in entry.state.activity} == {
        str(concern.event.event_id),
        str(later.event.event_id),
    }
    assert _stored_ids(store) == [expected[0].alert_id]


# -- places ----------------------------------------------------------------------------------


async def test_place_alerts_equal_the_oracle_and_replays_are_not_counted(
    mode: str,
    bootstrap: str,
    place_rules: AgentHarness,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> None:
    events = [
        referral(1, 0, needs=["housing"], place={"place_id": PLACE}),
        food_referral(2, 8),
        food_referral(3, 15),
        food_referral(4, 22),
        *(food_referral(20 + n, 36 + n) for n in range(5)),
        referral(30, 42, needs=["housing"], place={"place_id": PLACE}),
    ]
    expected = [a for a in replay_alerts(events, default_rule_pack()) if a.subject == PLACE]
    assert [alert.rule_id for alert in expected] == ["place-need-spike"]

    def forwarded(event: PersonEvent, offset: int, *extra: tuple[str, bytes]) -> Published:
        headers = [(SOURCE_PARTITION, b"0"), (SOURCE_OFFSET, str(offset).encode()), *extra]
        return (app_topics.place_events, PLACE.encode(), codec.encode(event), headers)

    messages = [forwarded(event, n) for n, event in enumerate(events)]
    # Re-forwarded after a crash (the same source offsets), and replayed under another key
    # by an engineer's merge (already counted): neither counts again.
    messages += messages[-3:]
    messages += [
        forwarded(PersonEvent.of("p-other", event.event), 100 + n, (REPLAYED_BY, DECISION.encode()))
        for n, event in enumerate(events[4:9])
    ]
    await place_rules.publish(messages)

    table = agent_app.tables["place-rules"]
    await until(lambda: {a.alert_id for a in expected} == set(_stored_ids(store)), "the alert")
    await until(lambda: PLACE in table and table[PLACE].sources == {0: len(events) - 1})
    written = await _all_written(mode, place_rules, bootstrap, app_topics.alerts, 1)
    assert [codec.decode_as(value, Alert) for value in written] == expected
