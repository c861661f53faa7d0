"""The identity agent, in memory and on the real broker (one body, two runs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import pytest_asyncio

from schemas.codec import AvroCodec
from schemas.models import (
    AgencyEvent,
    Contact,
    ErasureRequest,
    IdentityDecision,
    IdentityDecisionKind,
    PersonEvent,
    PersonLink,
    PersonRef,
    PersonReset,
)
from schemas.topics import Topics
from streams.agents import identity
from streams.app import BackboneApp
from streams.headers import REPLAYED_BY
from streams.intake import DeadLetters
from streams.store import JournalEntry, Store
from streams.store.identity import IdentityStore
from tests.fixtures.streams import AgentHarness, Outputs, run_agent
from tests.samples import sample_contact

pytestmark = pytest.mark.asyncio

SECRET = b"a test secret of thirty-two bytes!"


@pytest_asyncio.fixture
async def harness(
    mode: str,
    bootstrap: str,
    app_topics: Topics,
    codec: AvroCodec,
    store: Store,
    agent_app: BackboneApp,
) -> AsyncIterator[AgentHarness]:
    identities = IdentityStore(store.engine)

    def build(target_app: BackboneApp, output: Outputs) -> object:
        return identity.register(
            target_app,
            codec=codec,
            matcher=identity.restored_matcher(SECRET, identities),
            stores=identity.IdentityStores(
                identities, store.erasures, store.decisions, store.journal
            ),
            person_events=output(app_topics.person_events),
            dead_letters=DeadLetters(output(app_topics.dead_letters), connector="identity"),
        )

    async with run_agent(mode, agent_app, build, bootstrap) as running:
        yield running


def _seen_by(agency: str, local_id: str, **person: object) -> Contact:
    """The same older woman as three agencies record her."""
    return sample_contact().model_copy(
        update={
            "event_id": uuid.uuid4(),
            "agency": agency,
            "occurred_at": datetime(2026, 3, 2, 10, tzinfo=UTC),
            "person": PersonRef(local_id=local_id, **person),  # type: ignore[arg-type]
        }
    )


def three_agencies() -> list[AgencyEvent]:
    born = date(1941, 3, 9)
    return [
        _seen_by(
            "council",
            "c-88",
            given_name="Margaret",
            family_name="Okafor",
            birth_date=born,
            postcode="LS6 2AB",
            nhs_number="9434765919",
        ),
        _seen_by(
            "gp-surgery",
            "g-1203",
            given_name="Margaret",
            family_name="Okafor",
            birth_date=born,
            nhs_number="943 476 5919",
        ),
        _seen_by(
            "allotment-group",
            "v-7",
            given_name="Peggy",
            family_name="Okafor",
            birth_date=born,
            postcode="LS6 2AB",
            address="4 Elm Row",
        ),
    ]


async def test_one_person_across_agencies_without_identifiers_on_the_way_out(
    harness: AgentHarness, app_topics: Topics, codec: AvroCodec, store: Store
) -> None:
    events = three_agencies()
    await harness.publish([(app_topics.identity_queue, b"k", codec.encode(e)) for e in events])
    written = await harness.read(app_topics.person_events, len(events))
    person_events = [codec.decode_as(value, PersonEvent) for _, value, _ in written]
    assert {pe.person_key for pe in person_events} == {person_events[0].person_key}
    assert {key for key, _, _ in written} == {person_events[0].person_key.encode()}
    for person_event, event in zip(person_events, events, strict=True):
        assert person_event.event.person == PersonRef(local_id=event.person.local_id)
        assert person_event.event.event_id == event.event_id
    kept = IdentityStore(store.engine).snapshot()
    assert len(kept.observations) == len(events)
    # A restarted worker rebuilds the same matcher: the same person, the same key.
    again = identity.restored_matcher(SECRET, IdentityStore(store.engine))
    assert (
        again.resolve(identity.identity_record(events[2])).person_key == person_events[0].person_key
    )


async def test_what_is_no_agency_event_is_dead_lettered(
    harness: AgentHarness, app_topics: Topics, codec: AvroCodec
) -> None:
    await harness.publish([(app_topics.identity_queue, b"k", b"\x00\x00")])
    ((value, letter),) = await harness.dead_letters(1)
    assert value == b"\x00\x00"
    assert letter.connector == "identity"


async def test_an_erasure_forgets_the_person_and_goes_on_under_their_key(
    harness: AgentHarness, app_topics: Topics, codec: AvroCodec, store: Store
) -> None:
    events = three_agencies()
    erasure = ErasureRequest(
        event_id=uuid.uuid4(),
        occurred_at=datetime(2026, 3, 3, tzinfo=UTC),
        agency="council",
        person=PersonRef(local_id="c-88"),
        reason="The person asked the council to erase their data.",
    )
    # The second copy is a redelivery: it goes on again, under the same key.
    queued = [*events, erasure, erasure]
    await harness.publish([(app_topics.identity_queue, b"k", codec.encode(e)) for e in queued])
    written = await harness.read(app_topics.person_events, len(queued))
    person_events = [codec.decode_as(value, PersonEvent) for _, value, _ in written]
    (key,) = {pe.person_key for pe in person_events}
    assert [pe.event for pe in person_events[-2:]] == [PersonEvent.of(key, erasure).event] * 2
    assert IdentityStore(store.engine).snapshot().observations == ()
    again = identity.restored_matcher(SECRET, IdentityStore(store.engine))
    assert again.resolve(identity.identity_record(events[0])).person_key != key


# -- engineers' merges and splits ------------------------------------------------------------


def _journaled(store: Store, *events: AgencyEvent) -> None:
    """Record ``events`` as the journal agent would have before queueing them."""
    store.journal.record_many(
        [
            JournalEntry(
                event_id=event.event_id,
                kind="contact",
                record=type(event).__name__,
                agency=event.agency,
                local_id=event.person.local_id,
                occurred_at=event.occurred_at,
                payload=event.model_dump_json(),
                source_topic="contacts",
                source_partition=0,
                source_offset=index,
            )
            for index, event in enumerate(events)
        ]
    )


def _tomasz(local_id: str = "h-2") -> Contact:
    return _seen_by(
        "housing", local_id, given_name="Tomasz", family_name="Nowak", birth_date=date(1988, 11, 30)
    )


def _decision(kind: IdentityDecisionKind, person_key: str, **fields: Any) -> IdentityDecision:
    return IdentityDecision(
        decision_id=uuid.uuid4(),
        kind=kind,
        person_key=person_key,
        engineer="ada",
        decided_at=datetime(2026, 3, 4, tzinfo=UTC),
        **{"links": [], **fields},
    )


Sent = tuple[PersonEvent | PersonReset, bytes | None]


async def _sent(
    harness: AgentHarness, topic: str, codec: AvroCodec, count: int
) -> dict[str, list[Sent]]:
    """The first ``count`` person-events by key, each with its ``replayed-by`` header, in the
    order sent: Kafka keeps the order of one key (one partition), not across keys."""
    found: dict[str, list[Sent]] = {}
    for key, value, headers in await harness.read(topic, count):
        message = codec.decode(value)
        assert isinstance(message, PersonEvent | PersonReset)
        assert key == message.person_key.encode()
        found.setdefault(message.person_key, []).append((message, dict(headers).get(REPLAYED_BY)))
    return found


def _reset_by(decision: IdentityDecision, person_key: str) -> PersonReset:
    return PersonReset(
        person_key=person_key, decision_id=decision.decision_id, decided_at=decision.decided_at
    )


async def test_a_merge_resets_the_merged_person_and_replays_their_events_under_the_kept_key(
    harness: AgentHarness, app_topics: Topics, codec: AvroCodec, store: Store
) -> None:
    margaret, tomasz, tomasz_again = three_agencies()[0], _tomasz(), _tomasz()
    # The second Tomasz event is journaled before the merge but queued after it: the merge
    # replays it, so it must not go on a second time when it comes.
    _journaled(store, margaret, tomasz, tomasz_again)
    queue = app_topics.identity_queue
    await harness.publish([(queue, b"k", codec.encode(e)) for e in (margaret, tomasz)])
    first = await _sent(harness, app_topics.person_events, codec, 2)
    (kept,) = (key for key, sent in first.items() if sent[0][0] == PersonEvent.of(key, margaret))
    (merged,) = set(first) - {kept}
    merge = _decision(IdentityDecisionKind.MERGE, merged, into=kept)
    sentinel = three_agencies()[1]
    # Redelivered, the decision is carried out once.
    queued = [merge, tomasz_again, merge, sentinel]
    await harness.publish([(queue, b"k", codec.encode(e)) for e in queued])
    sent = await _sent(harness, app_topics.person_events, codec, 6)
    tag = str(merge.decision_id).encode()
    assert sent == {
        merged: [(PersonEvent.of(merged, tomasz), None), (_reset_by(merge, merged), None)],
        kept: [
            (PersonEvent.of(kept, margaret), None),
            (PersonEvent.of(kept, tomasz), tag),
            (PersonEvent.of(kept, tomasz_again), tag),
            (PersonEvent.of(kept, sentinel), None),
        ],
    }
    outcome = store.decisions.outcome(merge.decision_id)
    assert outcome is not None
    assert (outcome.status, outcome.moved_to) == ("applied", kept)
    snapshot = IdentityStore(store.engine).snapshot()
    assert {o.person_key for o in snapshot.observations} == {kept}
    assert merged in snapshot.retired_keys
    assert store.decisions.replayed() == {tomasz.event_id, tomasz_again.event_id}


async def test_a_split_resets_the_person_and_replays_each_link_under_its_key(
    harness: AgentHarness, app_topics: Topics, codec: AvroCodec, store: Store
) -> None:
    council, gp, _ = three_agencies()
    _journaled(store, council, gp)
    queue = app_topics.identity_queue
    await harness.publish([(queue, b"k", codec.encode(e)) for e in (council, gp)])
    (person,) = await _sent(harness, app_topics.person_events, codec, 2)
    split = _decision(
        IdentityDecisionKind.SPLIT,
        person,
        links=[PersonLink(agency="gp-surgery", local_id="g-1203")],
    )
    gp_later = _seen_by("gp-surgery", "g-1203")
    await harness.publish([(queue, b"k", codec.encode(e)) for e in (split, gp_later)])
    sent = await _sent(harness, app_topics.person_events, codec, 6)
    tag = str(split.decision_id).encode()
    (moved_to,) = set(sent) - {person}
    assert sent == {
        person: [
            (PersonEvent.of(person, council), None),
            (PersonEvent.of(person, gp), None),
            (_reset_by(split, person), None),
            (PersonEvent.of(person, council), tag),
        ],
        moved_to: [(PersonEvent.of(moved_to, gp), tag), (PersonEvent.of(moved_to, gp_later), None)],
    }


async def test_a_decision_the_matcher_cannot_carry_out_is_refused_and_nothing_moves(
    harness: AgentHarness, app_topics: Topics, codec: AvroCodec, store: Store
) -> None:
    margaret = three_agencies()[0]
    merge = _decision(IdentityDecisionKind.MERGE, "p-nobody", into="p-nobody-either")
    queue = app_topics.identity_queue
    await harness.publish([(queue, b"k", codec.encode(e)) for e in (merge, margaret)])
    ((only,),) = (await _sent(harness, app_topics.person_events, codec, 1)).values()
    assert isinstance(only[0], PersonEvent)
    assert only[0].event.event_id == margaret.event_id
    outcome = store.decisions.outcome(merge.decision_id)
    assert outcome is not None
    assert outcome.status == "rejected"
    assert outcome.reason == "no person has key p-nobody-either"
