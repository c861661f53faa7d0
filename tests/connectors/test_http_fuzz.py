"""Fuzzing the HTTP ingest: whatever arrives, the answer is a 202 or a 4xx, never a crash.

In memory only (a broker adds nothing to what the server does with bad input, and keeps it
fast); a 503 cannot happen there, so any 5xx is a bug. Hypothesis keeps no database, so
nothing is written into the repository.
"""

from __future__ import annotations

import asyncio
import json
import string
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.http import ingest_router
from connectors.ingest import Ingest
from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.models import MODEL_OF_KIND
from schemas.registry import EmbeddedSchemaRegistry
from schemas.topics import EventKind, Topics
from tests.connectors.test_http import TOKENS, body_of, kind_of
from tests.fixtures.connectors import MemoryLedger, MemorySink
from tests.samples import sample_events

LIMIT = 256 * 1024
MAX_BATCH = 500
SAMPLES = {kind_of(event): event for event in sample_events()}
FUZZ = settings(max_examples=200, deadline=None, database=None)

SINGLE_STATUSES = {202, 401, 403, 404, 409, 413, 422}
BATCH_STATUSES = {200, 401, 404, 413, 422}
ITEM_STATUSES = {202, 403, 409, 422}


class Server:
    """The router on an in-memory ingest, called from synchronous hypothesis tests."""

    def __init__(self, runner: asyncio.Runner, client: httpx.AsyncClient) -> None:
        self._runner, self._client = runner, client

    def post(self, path: str, content: bytes, authorization: str | None) -> httpx.Response:
        headers = {} if authorization is None else {"Authorization": authorization}
        return self._runner.run(self._client.post(path, content=content, headers=headers))

    def still_answers(self) -> None:
        """A new valid event is still accepted after whatever came before."""
        event = SAMPLES[EventKind.CONTACT].model_copy(update={"event_id": uuid.uuid4()})
        response = self.post(
            "/v1/events/contact", event.model_dump_json().encode(), f"Bearer {_token(event.agency)}"
        )
        assert response.status_code == 202, response.text


@contextmanager
def serving(data_dir: Path) -> Iterator[Server]:
    codec = AvroCodec(EmbeddedSchemaRegistry(data_dir / "schemas.sqlite"), Catalog.load())
    ingest = Ingest(codec, Topics(prefix="fuzz"), MemorySink(), ledger=MemoryLedger())
    app = FastAPI()
    app.include_router(ingest_router(ingest, TOKENS.get, max_body_bytes=LIMIT, max_batch=MAX_BATCH))
    with asyncio.Runner() as runner:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://fuzz")
        try:
            yield Server(runner, client)
        finally:
            runner.run(client.aclose())


def _token(agency: str) -> str:
    return next(token for token, owner in TOKENS.items() if owner == agency)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

#: Strings around every length limit of the contracts, and one over the body limit.
long_strings = st.one_of(
    st.sampled_from([0, 1, 128, 129, 256, 257, 4000, 4001, LIMIT + 1]), st.integers(0, 5000)
).map(lambda size: "x" * size)


@st.composite
def mutated_events(draw: st.DrawFn, kind: EventKind) -> dict[str, Any]:
    """A valid event of ``kind`` with one to three keys dropped, retyped, added or bloated."""
    body = body_of(SAMPLES[kind])
    for _ in range(draw(st.integers(1, 3))):
        person = body.get("person")
        target = person if isinstance(person, dict) and draw(st.booleans()) else body
        how = draw(st.sampled_from(["drop", "retype", "add", "bloat"]))
        if how == "add" or not target:
            target[draw(st.text(max_size=10))] = draw(json_values)
            continue
        key = draw(st.sampled_from(sorted(target)))
        if how == "drop":
            del target[key]
        else:
            target[key] = draw(json_values if how == "retype" else long_strings)
    return body


#: Bytes no JSON parser should enjoy: nesting past any limit, lone surrogates, a BOM, NaN,
#: an integer too long to convert, truncated and non-UTF-8 input.
nasty = st.sampled_from(
    [
        b"",
        b"[" * 100_000,
        b"{" * 5000 + b"}" * 5000,
        b'{"a":' * 300 + b"1" + b"}" * 300,
        b'"\\ud800"',
        b'["\\udfff"]',
        b"\xef\xbb\xbf{}",
        b"NaN",
        b"[Infinity,-Infinity]",
        b"1" * 5000,
        b'{"event_id": ' + b"9" * 5000 + b"}",
        b"\xff\xfe\x00{",
        b"null",
        b"[]",
        b"{}",
    ]
)


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def bodies(kind: EventKind) -> st.SearchStrategy[bytes]:
    """Whole request bodies for a single event of ``kind``."""
    return st.one_of(
        st.binary(max_size=200),
        nasty,
        json_values.map(_dumps),
        mutated_events(kind).map(_dumps),
        st.just(SAMPLES[kind].model_dump_json().encode()),
    )


def batches(kind: EventKind) -> st.SearchStrategy[bytes]:
    """Whole request bodies for a batch of ``kind``: arrays of anything, or not arrays."""
    items = st.one_of(
        json_values,
        mutated_events(kind),
        st.just(body_of(SAMPLES[kind])),
        st.sampled_from([body_of(event) for event in SAMPLES.values()]),
    )
    return st.one_of(
        st.lists(items, max_size=8).map(_dumps),
        st.just(_dumps([{}] * (MAX_BATCH + 1))),
        nasty,
        st.binary(max_size=200),
        json_values.map(_dumps),
    )


#: Mostly the token of the event's own agency, so that most examples reach validation.
def authorizations(kind: EventKind) -> st.SearchStrategy[str | None]:
    own = f"Bearer {_token(SAMPLES[kind].agency)}"
    printable = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
    return st.one_of(
        st.just(own),
        st.just(own),
        st.sampled_from([f"Bearer {token}" for token in TOKENS]),
        st.none(),
        printable,
    )


kinds = st.sampled_from(list(EventKind))
#: Path segments that are not kinds (percent-encoded: anything may follow ``/v1/events/``).
other_kinds = st.text(alphabet=string.ascii_letters + string.digits + "-_:.%", max_size=20)


def _problems(response: httpx.Response) -> list[dict[str, Any]]:
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail
    for problem in detail:
        assert set(problem) == {"loc", "msg"}
        assert isinstance(problem["loc"], str)
        assert isinstance(problem["msg"], str)
    return detail


def test_single_route_answers_every_body_with_a_202_or_4xx(tmp_path: Path) -> None:
    with serving(tmp_path) as server:

        @FUZZ
        @given(data=st.data(), kind=kinds)
        def check(data: st.DataObject, kind: EventKind) -> None:
            body = data.draw(bodies(kind))
            response = server.post(f"/v1/events/{kind}", body, data.draw(authorizations(kind)))
            assert response.status_code in SINGLE_STATUSES, response.text
            if response.status_code == 202:
                assert set(response.json()) == {"event_id", "repeat"}
            else:
                _problems(response)

        check()
        server.still_answers()


def test_batch_route_answers_every_item_in_order(tmp_path: Path) -> None:
    with serving(tmp_path) as server:

        @FUZZ
        @given(data=st.data(), kind=kinds)
        def check(data: st.DataObject, kind: EventKind) -> None:
            body = data.draw(batches(kind))
            path = f"/v1/events/{kind}:batch"
            response = server.post(path, body, data.draw(authorizations(kind)))
            assert response.status_code in BATCH_STATUSES, response.text
            if response.status_code != 200:
                _problems(response)
                return
            results = response.json()["results"]
            assert [result["index"] for result in results] == list(range(len(json.loads(body))))
            for result in results:
                assert result["status"] in ITEM_STATUSES
                assert (result["status"] == 202) == (result["errors"] == [])

        check()
        server.still_answers()


def test_unknown_kinds_are_404_never_5xx(tmp_path: Path) -> None:
    with serving(tmp_path) as server:

        @FUZZ
        @given(segment=other_kinds, batch=st.booleans(), body=st.binary(max_size=50))
        def check(segment: str, batch: bool, body: bytes) -> None:
            path = "/v1/events/" + quote(segment, safe=":") + (":batch" if batch else "")
            response = server.post(path, body, f"Bearer {next(iter(TOKENS))}")
            known = segment in {kind.value for kind in EventKind}
            assert response.status_code < 500, response.text
            if not known:
                assert response.status_code in {404, 405}

        check()
        server.still_answers()


@st.composite
def marked_events(draw: st.DrawFn) -> tuple[EventKind, dict[str, Any], str]:
    """A valid event with some field values replaced by a marker, alone or nested."""
    kind = draw(kinds)
    marker = "SECRET-" + draw(st.text(alphabet=string.ascii_lowercase, min_size=6, max_size=6))
    body = body_of(SAMPLES[kind])
    fields = sorted(set(MODEL_OF_KIND[kind].model_fields) | {"person.given_name"})
    for field in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique=True)):
        value = draw(st.sampled_from([marker, [marker], {"x": marker}, {"local_id": marker}]))
        if not field.startswith("person."):
            body[field] = value
        elif isinstance(body["person"], dict):  # unless "person" itself was replaced already
            body["person"][field.removeprefix("person.")] = value
    return kind, body, marker


def test_answers_never_echo_field_values(tmp_path: Path) -> None:
    with serving(tmp_path) as server:

        @FUZZ
        @given(marked=marked_events(), batch=st.booleans())
        def check(marked: tuple[EventKind, dict[str, Any], str], batch: bool) -> None:
            kind, body, marker = marked
            path = f"/v1/events/{kind}" + (":batch" if batch else "")
            content = _dumps([body] if batch else body)
            response = server.post(path, content, f"Bearer {_token(SAMPLES[kind].agency)}")
            assert response.status_code < 500, response.text
            assert marker not in response.text

        check()
        server.still_answers()
