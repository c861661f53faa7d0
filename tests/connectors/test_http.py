"""The HTTP ingest, in memory and on the real broker (one body, two runs).

The broker run proves what was published by reading the topics back with kafka-python.
Tests that need a broker that refuses (503) or a fault inside the server run in memory only,
and say so in their names.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from connectors.base import Delivery
from connectors.errors import PublishError
from connectors.http import RETRY_AFTER_SECONDS, ingest_router
from connectors.ingest import Ingest
from connectors.producer import KafkaSink, ProducerSettings
from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.deadletter import DeadLetter
from schemas.models import MODEL_OF_KIND, AgencyEvent
from schemas.registry import EmbeddedSchemaRegistry
from schemas.topics import EventKind, Topics
from tests.fixtures.connectors import MemoryLedger, MemorySink, SentMessage
from tests.fixtures.kafka import KafkaCluster
from tests.samples import sample_contact, sample_events, sample_referral

pytestmark = pytest.mark.asyncio

LIMIT = 256 * 1024
AGENCIES = sorted({event.agency for event in sample_events()})
TOKENS = {f"{agency}-token": agency for agency in AGENCIES}
#: The header of the markers the broker half sends to find where a topic ends.
_MARKER = "test.marker"


def kind_of(event: AgencyEvent) -> EventKind:
    return next(kind for kind, model in MODEL_OF_KIND.items() if isinstance(event, model))


def body_of(event: AgencyEvent, **changes: object) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(event.model_dump_json())
    body.update(changes)
    return body


def bearer(agency: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {agency}-token"}


class Backend:
    """Where the ingest publishes, and what reached a topic, whichever way the test runs."""

    def __init__(self, topics: Topics, sink: MemorySink | KafkaSink, bootstrap: str = "") -> None:
        self.topics, self.sink, self.bootstrap = topics, sink, bootstrap

    def published(self, topic: str) -> list[SentMessage]:
        """Every message on ``topic`` (across partitions, so not in any order)."""
        if isinstance(self.sink, MemorySink):
            return self.sink.on(topic)
        # End offsets cannot say how many there are: the embedded broker (Tansu) reports the
        # last batch's base offset + 1. A marker sent to each partition after the ingest
        # answered (so after every message it published) says where the topic ends.
        marker = uuid.uuid4().hex.encode()
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            for partition in range(self.topics.partitions):
                producer.send(topic, value=b"", partition=partition, headers=[(_MARKER, marker)])
            producer.flush()
        finally:
            producer.close()
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            consumer_timeout_ms=10_000,
        )
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(self.topics.partitions)])
            unmarked = set(range(self.topics.partitions))
            found: list[SentMessage] = []
            for record in consumer:
                headers = dict(record.headers)
                if _MARKER not in headers:
                    found.append(
                        SentMessage(topic, record.key, record.value, tuple(record.headers))
                    )
                elif headers[_MARKER] == marker:
                    unmarked.discard(record.partition)
                    if not unmarked:
                        break
            assert not unmarked, f"no marker came back from partitions {sorted(unmarked)}"
            return found
        finally:
            consumer.close()

    def events(self, kind: EventKind, codec: AvroCodec) -> list[object]:
        return [codec.decode(message.value) for message in self.published(self.topics.source(kind))]

    def dead_letters(self) -> list[tuple[bytes, DeadLetter]]:
        return [
            (message.value, DeadLetter.from_headers(list(message.headers)))
            for message in self.published(self.topics.dead_letters)
        ]


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(mode: str, request: pytest.FixtureRequest) -> Iterator[Backend]:
    if mode == "memory":
        yield Backend(Topics(prefix="memory"), MemorySink())
        return
    cluster: KafkaCluster = request.getfixturevalue("kafka_cluster")
    topics: Topics = request.getfixturevalue("topics")
    sink = KafkaSink(ProducerSettings((cluster.bootstrap,)))
    try:
        yield Backend(topics, sink, cluster.bootstrap)
    finally:
        sink.close()


@pytest.fixture
def codec(tmp_path: Path) -> AvroCodec:
    return AvroCodec(EmbeddedSchemaRegistry(tmp_path / "schemas.sqlite"), Catalog.load())


@pytest.fixture
def authenticate() -> Callable[[str], str | None]:
    return TOKENS.get


@pytest_asyncio.fixture
async def client(
    backend: Backend, codec: AvroCodec, authenticate: Callable[[str], str | None]
) -> AsyncIterator[httpx.AsyncClient]:
    ingest = Ingest(codec, backend.topics, backend.sink, ledger=MemoryLedger())
    app = FastAPI()
    app.include_router(ingest_router(ingest, authenticate))
    # Starlette's TestClient warns (an error here) unless httpx2 is installed; httpx's own
    # ASGI transport needs nothing more and streams request bodies as a server would.
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://backbone") as http:
        yield http


async def _post(client: httpx.AsyncClient, path: str, body: object, agency: str) -> httpx.Response:
    return await client.post(path, content=json.dumps(body).encode(), headers=bearer(agency))


@pytest.mark.parametrize("event", sample_events(), ids=lambda event: type(event).__name__)
async def test_each_kind_is_202_once_published(
    client: httpx.AsyncClient, backend: Backend, codec: AvroCodec, event: AgencyEvent
) -> None:
    kind = kind_of(event)
    response = await _post(client, f"/v1/events/{kind}", body_of(event), event.agency)
    assert response.status_code == 202
    assert response.json() == {"event_id": str(event.event_id), "repeat": False}
    assert backend.events(kind, codec) == [event]
    assert backend.dead_letters() == []


async def test_repeat_is_202_again_and_published_once(
    client: httpx.AsyncClient, backend: Backend, codec: AvroCodec
) -> None:
    event = sample_contact()
    first = await _post(client, "/v1/events/contact", body_of(event), event.agency)
    # The same event written differently: keys in another order.
    again_body = dict(reversed(body_of(event).items()))
    again = await _post(client, "/v1/events/contact", again_body, event.agency)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {"event_id": str(event.event_id), "repeat": True}
    assert backend.events(EventKind.CONTACT, codec) == [event]


async def test_same_event_id_with_another_body_is_409_and_dead_lettered(
    client: httpx.AsyncClient, backend: Backend, codec: AvroCodec
) -> None:
    event = sample_contact()
    await _post(client, "/v1/events/contact", body_of(event), event.agency)
    changed = json.dumps(body_of(event, team="another-team")).encode()
    response = await client.post(
        "/v1/events/contact", content=changed, headers=bearer(event.agency)
    )
    assert response.status_code == 409
    assert [problem["loc"] for problem in response.json()["detail"]] == ["event_id"]
    assert "another-team" not in response.text
    ((value, letter),) = backend.dead_letters()
    assert value == changed
    assert (letter.connector, letter.error_class) == ("http", "ConflictingEventError")
    assert backend.events(EventKind.CONTACT, codec) == [event]


async def test_invalid_event_is_422_naming_every_field_without_values(
    client: httpx.AsyncClient, backend: Backend, codec: AvroCodec
) -> None:
    event = sample_contact()
    body = body_of(
        event,
        outcome="SECRET-outcome",
        channel=None,
        person={"given_name": "SECRET-name", "postcode": 12},
        surname="SECRET-unknown-field",
    )
    raw = json.dumps(body).encode()
    response = await client.post("/v1/events/contact", content=raw, headers=bearer(event.agency))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert all(set(problem) == {"loc", "msg"} for problem in detail)
    locations = {problem["loc"] for problem in detail}
    assert {"outcome", "channel", "person.local_id", "person.postcode", "surname"} <= locations
    assert "SECRET" not in response.text
    ((value, letter),) = backend.dead_letters()
    assert value == raw
    assert (letter.connector, letter.error_class) == ("http", "InvalidEventError")
    assert "SECRET" not in letter.error_message
    assert backend.events(EventKind.CONTACT, codec) == []


@pytest.mark.parametrize("raw", [b'[{"event_id": "SECRET', b'{"not": "an array"}'])
async def test_a_batch_body_that_is_no_array_is_422_and_dead_lettered(
    client: httpx.AsyncClient, backend: Backend, raw: bytes
) -> None:
    response = await client.post(
        "/v1/events/contact:batch", content=raw, headers=bearer("nhs-trust")
    )
    assert response.status_code == 422
    ((value, letter),) = backend.dead_letters()
    assert value == raw
    assert letter.connector == "http"
    assert letter.source_topic == backend.topics.source(EventKind.CONTACT)
    assert "SECRET" not in letter.error_message


async def test_malformed_json_is_422_and_dead_lettered(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    raw = b'{"event_id": "SECRET'
    response = await client.post("/v1/events/contact", content=raw, headers=bearer("nhs-trust"))
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == "(body)"
    assert problem["msg"].startswith("Invalid JSON: ")
    assert "SECRET" not in response.text
    ((value, _),) = backend.dead_letters()
    assert value == raw


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, "Bearer"),
        ("Basic bmhzLXRydXN0OnB3", "Bearer"),
        ("Bearer", "Bearer"),
        ("Bearer   ", "Bearer"),
        ("Bearer not-a-known-token", 'Bearer error="invalid_token"'),
    ],
    ids=["missing", "wrong-scheme", "no-token", "blank-token", "unknown-token"],
)
@pytest.mark.parametrize("path", ["/v1/events/contact", "/v1/events/contact:batch"])
async def test_no_known_bearer_token_is_401(
    client: httpx.AsyncClient,
    backend: Backend,
    path: str,
    authorization: str | None,
    challenge: str,
) -> None:
    body = body_of(sample_contact())
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.post(
        path, content=json.dumps(body if path.endswith("contact") else [body]), headers=headers
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge
    assert [problem["loc"] for problem in response.json()["detail"]] == ["header.authorization"]
    assert backend.published(backend.topics.source(EventKind.CONTACT)) == []


async def test_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    event = sample_contact()
    response = await client.post(
        "/v1/events/contact",
        content=event.model_dump_json(),
        headers={"Authorization": "bearer nhs-trust-token"},
    )
    assert response.status_code == 202


async def test_another_agencys_event_is_403_and_not_published(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    event = sample_referral()  # the council's
    response = await _post(client, "/v1/events/referral", body_of(event), "nhs-trust")
    assert response.status_code == 403
    assert [problem["loc"] for problem in response.json()["detail"]] == ["agency"]
    assert backend.published(backend.topics.source(EventKind.REFERRAL)) == []


async def _chunks(total: int) -> AsyncIterator[bytes]:
    """A streamed body (chunked, no Content-Length) of ``total`` bytes."""
    sent = 0
    while sent < total:
        size = min(64 * 1024, total - sent)
        sent += size
        yield b" " * size


@pytest.mark.parametrize("path", ["/v1/events/contact", "/v1/events/contact:batch"])
@pytest.mark.parametrize("how", ["declared", "lied", "streamed", "absurd-length"])
async def test_body_over_the_limit_is_413(
    client: httpx.AsyncClient, backend: Backend, path: str, how: str
) -> None:
    headers = bearer("nhs-trust")
    if how == "declared":
        response = await client.post(path, content=b" " * (LIMIT + 1), headers=headers)
    elif how == "lied":
        headers["Content-Length"] = "2"
        response = await client.post(path, content=b" " * (LIMIT + 1), headers=headers)
    elif how == "streamed":
        response = await client.post(path, content=_chunks(LIMIT + 1), headers=headers)
    else:
        headers["Content-Length"] = "9" * 40
        response = await client.post(path, content=b"{}", headers=headers)
    assert response.status_code == 413
    assert [problem["loc"] for problem in response.json()["detail"]] == ["(body)"]
    assert backend.published(backend.topics.dead_letters) == []


async def test_a_body_of_exactly_the_limit_is_read(client: httpx.AsyncClient) -> None:
    event = body_of(sample_contact())
    raw = json.dumps(event).encode()
    padded = raw + b" " * (LIMIT - len(raw))
    response = await client.post("/v1/events/contact", content=padded, headers=bearer("nhs-trust"))
    assert response.status_code == 202


async def test_batch_longer_than_the_maximum_is_413(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    response = await _post(client, "/v1/events/contact:batch", [{}] * 501, "nhs-trust")
    assert response.status_code == 413
    assert backend.published(backend.topics.dead_letters) == []


@pytest.mark.parametrize(
    "path", ["/v1/events/parcel", "/v1/events/parcel:batch", "/v1/events/contact:batches"]
)
async def test_unknown_kind_is_404(client: httpx.AsyncClient, path: str) -> None:
    response = await _post(client, path, body_of(sample_contact()), "nhs-trust")
    assert response.status_code == 404
    assert [problem["loc"] for problem in response.json()["detail"]] == ["path.kind"]


async def test_batch_answers_each_item_in_order(
    client: httpx.AsyncClient, backend: Backend, codec: AvroCodec
) -> None:
    first = sample_contact()
    second = first.model_copy(update={"event_id": uuid.uuid4()})
    items = [
        body_of(first),
        body_of(first, outcome="SECRET"),
        body_of(first, agency="council"),
        body_of(first),
        body_of(first, team="another-team"),
        body_of(second),
        "not an object",
    ]
    response = await _post(client, "/v1/events/contact:batch", items, "nhs-trust")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [result["index"] for result in results] == list(range(len(items)))
    assert [result["status"] for result in results] == [202, 422, 403, 202, 409, 202, 422]
    assert [result["repeat"] for result in results] == [False] * 3 + [True] + [False] * 3
    # An invalid item has no event id to report: it may not have a valid one.
    one, two = str(first.event_id), str(second.event_id)
    ids = [one, None, one, one, one, two, None]
    assert [result["event_id"] for result in results] == ids
    assert results[0]["errors"] == []
    assert [problem["loc"] for problem in results[1]["errors"]] == ["outcome"]
    assert [problem["loc"] for problem in results[4]["errors"]] == ["event_id"]
    assert [problem["loc"] for problem in results[6]["errors"]] == ["(body)"]
    assert "SECRET" not in response.text
    published = backend.events(EventKind.CONTACT, codec)
    assert sorted(published, key=str) == sorted([first, second], key=str)
    # Each rejected item is dead-lettered as compact JSON, its offset its index in the batch.
    letters = sorted(backend.dead_letters(), key=lambda dead: dead[1].source_offset)
    assert [letter.source_offset for _, letter in letters] == [1, 4, 6]
    assert [value for value, _ in letters] == [
        json.dumps(items[index], separators=(",", ":")).encode() for index in (1, 4, 6)
    ]


async def test_batch_items_are_answered_as_the_single_route_would(
    client: httpx.AsyncClient,
) -> None:
    bodies = [body_of(sample_contact(), channel="pigeon"), body_of(sample_contact())]
    batch = await _post(client, "/v1/events/contact:batch", bodies, "nhs-trust")
    singles = [await _post(client, "/v1/events/contact", body, "nhs-trust") for body in bodies]
    invalid, repeat = batch.json()["results"]
    assert (invalid["status"], invalid["errors"]) == (422, singles[0].json()["detail"])
    assert singles[1].json() == {"event_id": repeat["event_id"], "repeat": True}


async def test_empty_batch_is_200_with_no_results(client: httpx.AsyncClient) -> None:
    response = await _post(client, "/v1/events/contact:batch", [], "nhs-trust")
    assert (response.status_code, response.json()) == (200, {"results": []})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[{", "Invalid JSON: "),
        (b'{"event_id": "x"}', "Input should be a JSON array"),
        (b'"SECRET"', "Input should be a JSON array"),
    ],
    ids=["malformed", "object", "string"],
)
async def test_batch_that_is_not_a_json_array_is_422(
    client: httpx.AsyncClient, backend: Backend, raw: bytes, message: str
) -> None:
    response = await client.post(
        "/v1/events/contact:batch", content=raw, headers=bearer("nhs-trust")
    )
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == "(body)"
    assert problem["msg"].startswith(message)
    assert "SECRET" not in response.text
    assert backend.published(backend.topics.source(EventKind.CONTACT)) == []


async def test_single_and_batch_routes_do_not_collide(client: httpx.AsyncClient) -> None:
    event = body_of(sample_contact())
    # The batch route takes the colon path: one object is not an array.
    as_batch = await _post(client, "/v1/events/contact:batch", event, "nhs-trust")
    assert as_batch.json()["detail"][0]["msg"].startswith("Input should be a JSON array")
    # The single route takes the plain path: an array is not an event.
    as_single = await _post(client, "/v1/events/contact", [event], "nhs-trust")
    assert as_single.status_code == 422
    assert as_single.json()["detail"] == [{"loc": "(body)", "msg": "Input should be an object"}]
    assert (await _post(client, "/v1/events/contact", event, "nhs-trust")).status_code == 202
    assert (await _post(client, "/v1/events/contact:batch", [event], "nhs-trust")).json()[
        "results"
    ][0]["repeat"]


async def test_openapi_shows_each_kinds_request_body(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for kind, model in MODEL_OF_KIND.items():
        single = document["paths"][f"/v1/events/{kind}"]["post"]
        schema = single["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == set(model.model_fields)
        assert schema["properties"]["person"]["properties"]["local_id"]["type"] == "string"
        assert {"202", "401", "403", "409", "413", "422", "503"} <= set(single["responses"])
        batch = document["paths"][f"/v1/events/{kind}:batch"]["post"]
        items = batch["requestBody"]["content"]["application/json"]["schema"]
        assert (items["type"], items["items"], items["maxItems"]) == ("array", schema, 500)
    # Definitions are inlined: no reference points into a "$defs" the document lacks.
    assert "#/$defs/" not in json.dumps(document)
    assert "/v1/events/{kind}" not in document["paths"]


@pytest.mark.parametrize("mode", ["memory"])
async def test_unacknowledged_event_is_503_with_retry_after_in_memory_only(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    assert isinstance(backend.sink, MemorySink)
    backend.sink.failing.add(backend.topics.source(EventKind.CONTACT))
    event = body_of(sample_contact())
    single = await _post(client, "/v1/events/contact", event, "nhs-trust")
    assert single.status_code == 503
    assert single.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert [problem["loc"] for problem in single.json()["detail"]] == ["(broker)"]
    batch = await _post(client, "/v1/events/contact:batch", [event, {}], "nhs-trust")
    assert [result["status"] for result in batch.json()["results"]] == [503, 422]
    # Not remembered as accepted: once the broker is back, the retry is a first acceptance.
    backend.sink.failing.clear()
    again = await _post(client, "/v1/events/contact", event, "nhs-trust")
    assert (again.status_code, again.json()["repeat"]) == (202, False)


class _RefusingSink(MemorySink):
    """A sink whose sends cannot even start, as kafka-python's when metadata never comes."""

    def add(
        self, topic: str, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> Delivery:
        raise PublishError(f"cannot send to {topic}")


@pytest.mark.parametrize("mode", ["memory"])
async def test_a_send_that_cannot_start_is_503_in_memory_only(
    backend: Backend, codec: AvroCodec
) -> None:
    app = FastAPI()
    app.include_router(ingest_router(Ingest(codec, backend.topics, _RefusingSink()), TOKENS.get))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://b") as http:
        event = body_of(sample_contact())
        response = await _post(http, "/v1/events/contact", event, "nhs-trust")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        # A batch answers per item: the item that could not be sent is a 503 of its own.
        batch = await _post(http, "/v1/events/contact:batch", [event], "nhs-trust")
        assert batch.status_code == 200
        assert [item["status"] for item in batch.json()["results"]] == [503]


def _broken_authenticate(token: str) -> str | None:
    raise RuntimeError(f"token store down ({token})")


@pytest.mark.parametrize("mode", ["memory"])
@pytest.mark.parametrize("authenticate", [_broken_authenticate])
async def test_an_unexpected_failure_is_a_500_that_leaks_nothing_in_memory_only(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await _post(client, "/v1/events/contact", body_of(sample_contact()), "nhs-trust")
    assert response.status_code == 500
    assert response.json() == {
        "detail": [{"loc": "(server)", "msg": "internal error; not accepted"}]
    }
    assert "token" not in response.text
    assert "failed unexpectedly" in caplog.text
