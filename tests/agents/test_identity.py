"""The identity agent, in memory and on the real broker (one body, two runs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
import pytest_asyncio

from schemas.codec import AvroCodec
from schemas.models import AgencyEvent, Contact, ErasureRequest, PersonEvent, PersonRef
from schemas.topics import Topics
from streams.agents import identity
from streams.app import BackboneApp
from streams.intake import DeadLetters
from streams.store import Store
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
            identities=identities,
            erasures=store.erasures,
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
