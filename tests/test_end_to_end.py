"""The shared view end to end: ``backbone up`` as a process on the real broker, fed over HTTP.

Agencies post events; the journal, identity, person-view and place-view agents run; the read
API answers teams. Each test runs on SQLite and on PostgreSQL. The broker is the suite's own
(given with ``--bootstrap``), so a worker can be stopped or killed while it keeps the topics.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faker import Faker

from backbone.broker import create_topics
from schemas.models import (
    AgencyEvent,
    ConsentChange,
    ConsentPurpose,
    Contact,
    ContactOutcome,
    ErasureRequest,
    PersonEvent,
    PersonRef,
    PlaceRef,
    Referral,
    VolunteerAction,
)
from schemas.topics import EventKind, Topics, TopicSpec
from streams.store import Store
from streams.views import PersonView, PlaceView, replay
from tests.fixtures.kafka import KafkaCluster
from tests.fixtures.up import READY_TIMEOUT, STOP_TIMEOUT, Running, StartUp, wait_healthy
from tests.samples import (
    sample_consent_change,
    sample_contact,
    sample_erasure_request,
    sample_referral,
    sample_volunteer_action,
)

pytestmark = pytest.mark.kafka

AGENCIES = ("council", "gp-surgery", "allotment-group")
TEAMS = {"adult-social-care": "council", "district-nursing": "gp-surgery"}
PARTITIONS = 2
#: The view agents' tables, whose changelogs the worker would otherwise leave to the broker.
TABLES = ("person-views", "erased-persons", "place-views")
KIND_OF: dict[type[AgencyEvent], EventKind] = {
    Referral: EventKind.REFERRAL,
    Contact: EventKind.CONTACT,
    VolunteerAction: EventKind.VOLUNTEER_ACTION,
    ConsentChange: EventKind.CONSENT,
    ErasureRequest: EventKind.ERASURE,
}


class Backbone:
    """A ``backbone up`` on the suite's broker and a given database, as agencies and teams
    see it."""

    def __init__(self, start_up: StartUp, folder: Path, bootstrap: str, database: str) -> None:
        self.prefix = f"e{uuid.uuid4().hex[:10]}"
        self._start_up = start_up
        self.database = database
        topics = Topics(self.prefix, PARTITIONS)
        changelogs = [
            TopicSpec(f"{self.prefix}-{table}-changelog", PARTITIONS, compacted=True)
            for table in TABLES
        ]
        create_topics(bootstrap, [*topics.specs(), *changelogs])
        self.config = folder / "backbone.yaml"
        lines = ["agencies:"]
        lines += [f"  - {{id: {agency}, token: token-{agency}}}" for agency in AGENCIES]
        lines += ["teams:"]
        lines += [
            f"  - {{id: {team}, agency: {agency}, token: token-{team}}}"
            for team, agency in TEAMS.items()
        ]
        lines += ["kafka:", f"  topic_prefix: {self.prefix}", f"  partitions: {PARTITIONS}"]
        self.config.write_text("\n".join(lines) + "\n")
        self._args = ("--config", str(self.config), "--bootstrap", bootstrap, "--db", database)
        self.running = self.start()

    def start(self) -> Running:
        self.running = self._start_up(*self._args)
        wait_healthy(self.running)
        return self.running

    def stop(self) -> None:
        self.running.process.send_signal(signal.SIGINT)
        assert self.running.process.wait(STOP_TIMEOUT) == 0, self.running.output()

    def post(self, events: Sequence[AgencyEvent]) -> None:
        """Post ``events``, by kind and agency, in batches; every one must be accepted."""
        groups: dict[tuple[EventKind, str], list[AgencyEvent]] = {}
        for event in events:
            groups.setdefault((KIND_OF[type(event)], event.agency), []).append(event)
        for (kind, agency), group in groups.items():
            for start in range(0, len(group), 500):
                body = "[" + ",".join(e.model_dump_json() for e in group[start : start + 500])
                status, answer = self._call(
                    f"/v1/events/{kind.value}:batch", f"token-{agency}", body + "]"
                )
                assert status == 200, answer
                assert {r["status"] for r in answer["results"]} == {202}, answer

    def person(self, person_key: str, team: str) -> tuple[int, Any]:
        return self._call(f"/v1/persons/{person_key}", f"token-{team}")

    def _call(self, path: str, token: str, body: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.running.url + path,
            data=None if body is None else body.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def backbone(
    start_up: StartUp, tmp_path: Path, kafka_cluster: KafkaCluster, database_url: str
) -> Backbone:
    return Backbone(start_up, tmp_path, kafka_cluster.bootstrap, database_url)


def wait_for(condition: Callable[[], bool], what: str, running: Running) -> None:
    deadline = time.monotonic() + READY_TIMEOUT * 2
    while not condition():
        assert running.process.poll() is None, running.output()
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{running.output()}"
        time.sleep(0.2)


def keys_of(store: Store) -> dict[tuple[str, str], str]:
    """(agency, local id) → person key, as identity resolution decided."""
    return {
        observation.record.link: observation.person_key
        for observation in store.identity.snapshot().observations
    }


def oracle(
    store: Store, events: Sequence[AgencyEvent]
) -> tuple[dict[str, PersonView], dict[str, PlaceView]]:
    """The views a pure replay of ``events`` gives, under the keys resolution gave them."""
    keys = keys_of(store)
    pairs = []
    for event in events:
        key = keys[(event.agency, event.person.local_id)]
        pairs.append((key, PersonEvent.of(key, event).event))
    return replay(pairs)


# --- one person, three agencies ------------------------------------------------------------

BORN = date(1941, 3, 9)
MONDAY = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _as(sample: AgencyEvent, n: int, agency: str, person: PersonRef, **changes: Any) -> Any:
    return sample.model_copy(
        update={
            "event_id": uuid.UUID(int=n),
            "agency": agency,
            "occurred_at": MONDAY + timedelta(minutes=n),
            "person": person,
            "place": PlaceRef(place_id="E01011123"),
            **changes,
        }
    )


COUNCIL = PersonRef(
    local_id="c-88",
    given_name="Margaret",
    family_name="Okafor",
    birth_date=BORN,
    postcode="LS6 2AB",
    nhs_number="9434765919",
)
GP = PersonRef(
    local_id="g-1203",
    given_name="Margaret",
    family_name="Okafor",
    birth_date=BORN,
    nhs_number="943 476 5919",
)
ALLOTMENT = PersonRef(
    local_id="v-7",
    given_name="Peggy",
    family_name="Okafor",
    birth_date=BORN,
    postcode="LS6 2AB",
    address="4 Elm Row",
)
NEIGHBOUR = PersonRef(
    local_id="c-91",
    given_name="Tomasz",
    family_name="Nowak",
    birth_date=date(1988, 11, 30),
    postcode="LS9 8QP",
)


def margaret() -> list[AgencyEvent]:
    """Margaret as the council, her GP surgery and the allotment group record her."""
    return [
        _as(sample_referral(), 1, "council", COUNCIL),
        _as(
            sample_consent_change(),
            2,
            "council",
            COUNCIL,
            purpose=ConsentPurpose.DIRECT_CARE,
            granted=True,
            team="adult-social-care",
        ),
        _as(sample_contact(), 3, "gp-surgery", GP),
        _as(sample_volunteer_action(), 4, "allotment-group", ALLOTMENT),
        _as(sample_contact(), 5, "council", NEIGHBOUR, team="adult-social-care"),
    ]


def test_one_person_across_three_agencies_seen_by_consent_and_erased_for_good(
    backbone: Backbone,
) -> None:
    events = margaret()
    backbone.post(events)
    with Store.open(backbone.database) as store:
        wait_for(lambda: len(store.views.persons()) == 2, "two persons' views", backbone.running)
        keys = keys_of(store)
        key = keys[("council", "c-88")]
        assert {keys[("gp-surgery", "g-1203")], keys[("allotment-group", "v-7")]} == {key}
        assert keys[("council", "c-91")] != key
        persons, places = oracle(store, events)
        wait_for(lambda: store.views.persons() == persons, "the oracle's persons", backbone.running)
        wait_for(lambda: store.views.places() == places, "the oracle's places", backbone.running)

    status, answer = backbone.person(key, "adult-social-care")
    assert status == 200, answer
    assert answer["basis"] == ["direct_care"]
    assert set(answer["view"]["relationships"]) == {
        "agency:council",
        "agency:gp-surgery",
        "agency:allotment-group",
        "team:adult-social-care",
        "team:district-nursing",
        "professional:nurse-17",
        "volunteer:vol-9",
    }
    assert backbone.person(key, "district-nursing")[0] == 403
    assert backbone.person("p-nobody", "adult-social-care")[0] == 404

    erasure = _as(sample_erasure_request(), 6, "council", PersonRef(local_id="c-88"))
    backbone.post([erasure])
    wait_for(
        lambda: backbone.person(key, "adult-social-care")[0] == 404, "erasure", backbone.running
    )
    backbone.stop()
    backbone.start()
    assert backbone.person(key, "adult-social-care")[0] == 404

    # Her GP surgery writes again: she is someone new to the backbone now, under a new key.
    backbone.post([_as(sample_contact(), 7, "gp-surgery", GP)])
    with Store.open(backbone.database) as store:
        wait_for(lambda: len(store.views.persons()) == 2, "the new person", backbone.running)
        again = keys_of(store)[("gp-surgery", "g-1203")]
        assert again != key
        assert store.views.person(key) is None
        assert all(key not in place.persons_with_needs for place in store.views.places().values())
        kept = [o.record for o in store.identity.snapshot().observations]
        assert [r.link for r in kept if r.family_name == "Okafor"] == [("gp-surgery", "g-1203")]
        for entry in store.journal.entries():
            if entry.event_id in {e.event_id for e in events[:4]} | {erasure.event_id}:
                assert "Okafor" not in entry.payload
                assert entry.local_id == ""


# --- a worker killed mid-stream ------------------------------------------------------------


def crowd(count: int, persons: int, seed: int) -> list[AgencyEvent]:
    """``count`` events about ``persons`` people, each known to one agency by one record."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    people = [
        (
            AGENCIES[n % len(AGENCIES)],
            PersonRef(
                local_id=f"x-{n}",
                given_name=fake.first_name(),
                family_name=fake.last_name(),
                birth_date=fake.date_of_birth(minimum_age=18, maximum_age=95),
                postcode=fake.postcode(),
                address=fake.street_address(),
            ),
        )
        for n in range(persons)
    ]
    samples = [sample_referral(), sample_contact(), sample_volunteer_action()]
    events: list[AgencyEvent] = []
    for n in range(count):
        agency, person = people[fake.random_int(0, persons - 1)]
        outcome = fake.random_element(list(ContactOutcome))
        sample = samples[n % len(samples)]
        changes = {"outcome": outcome} if isinstance(sample, Contact) else {}
        event = _as(sample, 10_000 + n, agency, person, **changes)
        place = PlaceRef(place_id=f"E0101{fake.random_int(0, 9):04d}")
        events.append(event.model_copy(update={"place": place}))
    return events


def test_a_worker_killed_mid_stream_ends_with_the_views_of_an_uninterrupted_run(
    backbone: Backbone,
) -> None:
    events = crowd(3000, 200, seed=11)
    backbone.post(events)
    with Store.open(backbone.database) as store:
        wait_for(
            lambda: len(store.views.applied([e.event_id for e in events])) >= len(events) // 4,
            "a quarter of the events in the views",
            backbone.running,
        )
        backbone.running.process.kill()
        backbone.running.process.wait()
        folded_at_kill = len(store.views.applied([e.event_id for e in events]))
        assert folded_at_kill < len(events), "the kill came too late to test anything"
        backbone.start()
        wait_for(
            lambda: len(store.views.applied([e.event_id for e in events])) == len(events),
            "every event in the views",
            backbone.running,
        )
        persons, places = oracle(store, events)
        wait_for(lambda: store.views.places() == places, "the oracle's places", backbone.running)
        assert store.views.persons() == persons
        assert store.journal.count() == len(events)
