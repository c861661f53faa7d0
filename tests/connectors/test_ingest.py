"""The shared ingest path: every outcome, dead letters, the ledger, metrics."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.ingest import Ingest, Status, Submission
from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.deadletter import DeadLetter
from schemas.models import Contact
from schemas.registry import EmbeddedSchemaRegistry
from schemas.topics import EventKind, Topics
from tests.fixtures.connectors import MemoryLedger, MemorySink
from tests.samples import sample_events

TOPICS = Topics(prefix="test")


@pytest.fixture
def codec(tmp_path: Path) -> AvroCodec:
    return AvroCodec(EmbeddedSchemaRegistry(tmp_path / "schemas.sqlite"), Catalog.load())


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger()


@pytest.fixture
def ingest(codec: AvroCodec, sink: MemorySink, ledger: MemoryLedger) -> Ingest:
    return Ingest(codec, TOPICS, sink, ledger=ledger)


def _contact() -> Contact:
    contact = sample_events()[1]
    assert isinstance(contact, Contact)
    return contact


def _submission(body: dict[str, object]) -> Submission:
    raw = json.dumps(body).encode()
    return Submission(raw, raw)


def _accept(ingest: Ingest, *bodies: dict[str, object], agency: str | None = None):  # type: ignore[no-untyped-def]
    return ingest.accept(
        EventKind.CONTACT,
        [_submission(body) for body in bodies],
        agency=agency or _contact().agency,
        connector="test",
    )


def _body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = json.loads(_contact().model_dump_json())
    body.update(changes)
    return body


def test_valid_event_is_published_encoded_and_remembered(
    ingest: Ingest, sink: MemorySink, ledger: MemoryLedger, codec: AvroCodec
) -> None:
    (outcome,) = _accept(ingest, _body())
    assert outcome.status == Status.ACCEPTED
    assert outcome.event_id == _contact().event_id
    (message,) = sink.on(TOPICS.source(EventKind.CONTACT))
    assert codec.decode(message.value) == _contact()
    assert message.key == f"{_contact().agency}:{_contact().person.local_id}".encode()
    assert ledger.accepted[_contact().event_id].payload == message.value


def test_same_event_again_is_a_repeat_published_once(ingest: Ingest, sink: MemorySink) -> None:
    first = _accept(ingest, _body())
    # The same event written differently: another offset for the same instant.
    instant = _contact().occurred_at.astimezone(ZoneInfo("Europe/Paris"))
    again = _accept(ingest, _body(occurred_at=instant.isoformat()))
    assert [o.status for o in first + again] == [Status.ACCEPTED, Status.REPEAT]
    assert len(sink.on(TOPICS.source(EventKind.CONTACT))) == 1


def test_same_id_with_another_body_is_a_conflict_and_dead_lettered(
    ingest: Ingest, sink: MemorySink
) -> None:
    _accept(ingest, _body())
    (outcome,) = _accept(ingest, _body(team="another-team"))
    assert outcome.status == Status.CONFLICT
    (letter,) = sink.on(TOPICS.dead_letters)
    assert DeadLetter.from_headers(list(letter.headers)).error_message.startswith("conflict")
    assert len(sink.on(TOPICS.source(EventKind.CONTACT))) == 1


def test_invalid_event_names_every_field_and_is_dead_lettered_untouched(
    ingest: Ingest, sink: MemorySink
) -> None:
    body = _body(outcome="vanished", channel=None, person={"given_name": "Ada"})
    (outcome,) = _accept(ingest, body)
    assert outcome.status == Status.INVALID
    locations = {error.loc for error in outcome.errors}
    assert {"outcome", "channel", "person.local_id"} <= locations
    (letter,) = sink.on(TOPICS.dead_letters)
    assert letter.value == json.dumps(body).encode()
    headers = DeadLetter.from_headers(list(letter.headers))
    assert headers.connector == "test"
    assert headers.error_class == "InvalidEventError"
    assert "Ada" not in headers.error_message
    assert sink.on(TOPICS.source(EventKind.CONTACT)) == []


def test_another_agencys_event_is_forbidden(ingest: Ingest, sink: MemorySink) -> None:
    (outcome,) = _accept(ingest, _body(), agency="someone-else")
    assert outcome.status == Status.FORBIDDEN
    assert sink.sent == []


def test_a_batch_answers_per_item_in_order(ingest: Ingest) -> None:
    other = _body(event_id=str(uuid.uuid4()))
    outcomes = _accept(ingest, _body(), _body(outcome="?"), other, _body())
    assert [o.status for o in outcomes] == [
        Status.ACCEPTED,
        Status.INVALID,
        Status.ACCEPTED,
        Status.REPEAT,
    ]


def test_unacknowledged_event_is_unavailable_and_not_remembered(
    ingest: Ingest, sink: MemorySink, ledger: MemoryLedger
) -> None:
    sink.failing.add(TOPICS.source(EventKind.CONTACT))
    (outcome,) = _accept(ingest, _body())
    assert outcome.status == Status.UNAVAILABLE
    assert ledger.accepted == {}


@pytest.mark.asyncio
async def test_async_path_gives_the_same_answers(ingest: Ingest) -> None:
    items = [_submission(_body()), _submission(_body(outcome="?"))]
    outcomes = await ingest.accept_async(
        EventKind.CONTACT, items, agency=_contact().agency, connector="test"
    )
    assert [o.status for o in outcomes] == [Status.ACCEPTED, Status.INVALID]


def test_metrics_count_per_agency_kind_and_connector(ingest: Ingest) -> None:
    _accept(ingest, _body(), _body(outcome="?"), _body())
    registry = ingest.metrics.registry
    labels = {"agency": _contact().agency, "kind": "contact", "connector": "test"}
    assert (
        registry.get_sample_value("backbone_ingest_accepted_total", {**labels, "repeat": "false"})
        == 1
    )
    assert (
        registry.get_sample_value("backbone_ingest_accepted_total", {**labels, "repeat": "true"})
        == 1
    )
    assert (
        registry.get_sample_value("backbone_ingest_rejected_total", {**labels, "reason": "invalid"})
        == 1
    )
    assert registry.get_sample_value("backbone_ingest_dead_lettered_total", labels) == 1


def test_repeat_in_one_batch_fares_as_its_first_copy(ingest: Ingest, sink: MemorySink) -> None:
    sink.failing.add(TOPICS.source(EventKind.CONTACT))
    outcomes = _accept(ingest, _body(), _body())
    assert [o.status for o in outcomes] == [Status.UNAVAILABLE, Status.UNAVAILABLE]
    sink.failing.clear()
    outcomes = _accept(ingest, _body(), _body())
    assert [o.status for o in outcomes] == [Status.ACCEPTED, Status.REPEAT]
    assert len(sink.on(TOPICS.source(EventKind.CONTACT))) == 1


def test_conflict_within_one_batch_is_caught(ingest: Ingest, sink: MemorySink) -> None:
    outcomes = _accept(ingest, _body(), _body(team="another-team"))
    assert [o.status for o in outcomes] == [Status.ACCEPTED, Status.CONFLICT]
    assert len(sink.on(TOPICS.source(EventKind.CONTACT))) == 1


@pytest.mark.asyncio
async def test_concurrent_requests_publish_an_event_once(codec: AvroCodec) -> None:
    """Two callers with the same event id at once: one publishes, the other learns its fate."""
    gate = threading.Event()

    class SlowSink(MemorySink):
        def add(self, topic: str, key: bytes, value: bytes, headers=()):  # type: ignore[no-untyped-def]
            if topic == TOPICS.source(EventKind.CONTACT):
                gate.wait(5)
            return super().add(topic, key, value, headers)

    sink, ledger = SlowSink(), MemoryLedger()
    ingest = Ingest(codec, TOPICS, sink, ledger=ledger)
    agency = _contact().agency
    same = [_submission(_body())]
    other = [_submission(_body(team="another-team"))]
    first = asyncio.create_task(
        ingest.accept_async(EventKind.CONTACT, same, agency=agency, connector="a")
    )
    await asyncio.sleep(0.2)  # the first is now in flight, held at the gate
    second = asyncio.create_task(
        ingest.accept_async(EventKind.CONTACT, same, agency=agency, connector="b")
    )
    third = await ingest.accept_async(EventKind.CONTACT, other, agency=agency, connector="c")
    gate.set()
    answers = [(await first)[0].status, (await second)[0].status, third[0].status]
    assert answers == [Status.ACCEPTED, Status.REPEAT, Status.CONFLICT]
    assert len(sink.on(TOPICS.source(EventKind.CONTACT))) == 1


def test_an_event_dated_in_the_future_is_invalid(ingest: Ingest, sink: MemorySink) -> None:
    """A future-dated consent grant would outrank every real withdrawal: refused at ingest."""
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    (outcome,) = _accept(ingest, _body(occurred_at=tomorrow.isoformat()))
    assert outcome.status == Status.INVALID
    assert [(error.loc, error.msg) for error in outcome.errors] == [
        ("occurred_at", "is in the future")
    ]
    (letter,) = sink.on(TOPICS.dead_letters)
    assert DeadLetter.from_headers(list(letter.headers)).error_class == "InvalidEventError"


def test_a_little_clock_skew_is_tolerated(ingest: Ingest) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=1)
    (outcome,) = _accept(ingest, _body(occurred_at=soon.isoformat()))
    assert outcome.status == Status.ACCEPTED
