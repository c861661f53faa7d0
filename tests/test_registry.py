"""Schema registries: the embedded SQLite one and the Confluent REST client behave alike."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from schemas.errors import SchemaNotFoundError, SchemaRegistryError
from schemas.registry import (
    CONTENT_TYPE,
    ConfluentSchemaRegistry,
    EmbeddedSchemaRegistry,
    SchemaRegistry,
)

SUBJECT = "org.relationalbackbone.Referral"
V1 = '{"type":"record","name":"org.relationalbackbone.Referral","fields":[]}'
V2 = (
    '{"type":"record","name":"org.relationalbackbone.Referral","fields":'
    '[{"name":"note","type":["null","string"],"default":null}]}'
)


class FakeConfluent:
    """The handful of Schema Registry REST endpoints, answering as Confluent documents them."""

    def __init__(self, credentials: str | None = None) -> None:
        self.ids: dict[str, int] = {}
        self.subjects: dict[str, list[int]] = {}
        #: ``user:password`` to demand, if any.
        self.credentials = credentials
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.credentials is not None:
            token = base64.b64encode(self.credentials.encode()).decode()
            if request.headers.get("authorization") != f"Basic {token}":
                return _error(401, 40101, "Unauthorized")
        routes = {
            ("POST", r"/subjects/([^/]+)/versions"): self._register,
            ("GET", r"/subjects/([^/]+)/versions"): self._versions,
            ("GET", r"/subjects/([^/]+)/versions/(\d+)"): self._version,
            ("GET", r"/schemas/ids/(\d+)"): self._schema,
        }
        for (method, pattern), answer in routes.items():
            match = re.fullmatch(pattern, request.url.path)
            if request.method == method and match:
                return answer(request, *match.groups())
        return _error(404, 404, "HTTP 404 Not Found")

    def _register(self, request: httpx.Request, subject: str) -> httpx.Response:
        text = json.loads(request.content)["schema"]
        schema_id = self.ids.setdefault(text, len(self.ids) + 1)
        versions = self.subjects.setdefault(subject, [])
        if schema_id not in versions:
            versions.append(schema_id)
        return httpx.Response(200, json={"id": schema_id})

    def _versions(self, request: httpx.Request, subject: str) -> httpx.Response:
        if subject not in self.subjects:
            return _error(404, 40401, f"Subject '{subject}' not found.")
        return httpx.Response(200, json=list(range(1, len(self.subjects[subject]) + 1)))

    def _version(self, request: httpx.Request, subject: str, version: str) -> httpx.Response:
        ids = self.subjects.get(subject, [])
        if not 1 <= int(version) <= len(ids):
            return _error(404, 40402, f"Version {version} not found.")
        schema_id = ids[int(version) - 1]
        answer = {"subject": subject, "version": int(version), "id": schema_id}
        return httpx.Response(200, json=answer | {"schema": self._text(schema_id)})

    def _schema(self, request: httpx.Request, schema_id: str) -> httpx.Response:
        if int(schema_id) not in self.ids.values():
            return _error(404, 40403, f"Schema {schema_id} not found")
        return httpx.Response(200, json={"schema": self._text(int(schema_id))})

    def _text(self, schema_id: int) -> str:
        return next(text for text, known in self.ids.items() if known == schema_id)


def _error(status: int, code: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error_code": code, "message": message})


@pytest.fixture(params=["embedded", "confluent"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SchemaRegistry]:
    """Each implementation, for the behaviour they share."""
    if request.param == "embedded":
        made: SchemaRegistry = EmbeddedSchemaRegistry(tmp_path / "registry.sqlite")
    else:
        made = ConfluentSchemaRegistry(
            "http://registry", transport=httpx.MockTransport(FakeConfluent())
        )
    yield made
    made.close()


# -- what every registry does ---------------------------------------------------------------


def test_registering_the_same_schema_again_returns_the_same_id(registry: SchemaRegistry) -> None:
    first = registry.register(SUBJECT, V1)
    assert registry.register(SUBJECT, V1) == first
    assert registry.versions(SUBJECT) == [V1]


def test_versions_are_kept_in_registration_order(registry: SchemaRegistry) -> None:
    first, second = registry.register(SUBJECT, V1), registry.register(SUBJECT, V2)
    assert first != second
    assert registry.register(SUBJECT, V1) == first
    assert registry.versions(SUBJECT) == [V1, V2]
    assert (registry.schema(first), registry.schema(second)) == (V1, V2)


def test_the_same_schema_under_two_subjects_has_one_id(registry: SchemaRegistry) -> None:
    assert registry.register(SUBJECT, V1) == registry.register("other", V1)
    assert registry.versions("other") == [V1]


def test_an_unknown_id_is_a_schema_registry_error(registry: SchemaRegistry) -> None:
    registry.register(SUBJECT, V1)
    with pytest.raises(SchemaNotFoundError, match="42"):
        registry.schema(42)
    assert issubclass(SchemaNotFoundError, SchemaRegistryError)


def test_an_unknown_subject_has_no_versions(registry: SchemaRegistry) -> None:
    assert registry.versions("nobody") == []


# -- the embedded registry ------------------------------------------------------------------


def test_embedded_ids_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "registry.sqlite"
    first = EmbeddedSchemaRegistry(path).register(SUBJECT, V1)
    assert path.exists()
    reopened = EmbeddedSchemaRegistry(path)
    assert reopened.schema(first) == V1
    assert reopened.register(SUBJECT, V1) == first
    assert reopened.versions(SUBJECT) == [V1]


def test_two_embedded_registries_on_one_file_agree(tmp_path: Path) -> None:
    one = EmbeddedSchemaRegistry(tmp_path / "registry.sqlite")
    two = EmbeddedSchemaRegistry(tmp_path / "registry.sqlite")
    first = one.register(SUBJECT, V1)
    second = two.register(SUBJECT, V2)
    assert two.register(SUBJECT, V1) == first
    assert one.register(SUBJECT, V2) == second
    assert one.versions(SUBJECT) == two.versions(SUBJECT) == [V1, V2]


def _register_many(path: Path, worker: int) -> list[int]:
    """In another process: the shared schemas, interleaved with one of the worker's own."""
    registry = EmbeddedSchemaRegistry(path)
    own = json.dumps({"type": "record", "name": f"W{worker}", "fields": []})
    return [registry.register(SUBJECT, V1), registry.register(f"w{worker}", own)] + [
        registry.register(SUBJECT, V2) for _ in range(5)
    ]


def test_processes_registering_at_once_agree_on_ids(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    with ProcessPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_register_many, [path] * 8, range(8)))
    registry = EmbeddedSchemaRegistry(path)
    assert {result[0] for result in results} == {registry.register(SUBJECT, V1)}
    assert {result[2] for result in results} == {registry.register(SUBJECT, V2)}
    assert len({result[1] for result in results}) == 8
    assert registry.versions(SUBJECT) == [V1, V2]


def test_an_unusable_embedded_file_is_a_schema_registry_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SchemaRegistryError):
        EmbeddedSchemaRegistry(tmp_path / "file" / "registry.sqlite").register(SUBJECT, V1)
    (tmp_path / "garbage.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(SchemaRegistryError) as caught:
        EmbeddedSchemaRegistry(tmp_path / "garbage.sqlite").versions(SUBJECT)
    assert caught.value.__cause__ is not None


# -- the Confluent client -------------------------------------------------------------------


def _confluent(handler: Callable[[httpx.Request], httpx.Response]) -> ConfluentSchemaRegistry:
    return ConfluentSchemaRegistry("http://registry:8081", transport=httpx.MockTransport(handler))


def test_confluent_speaks_the_registry_media_type_with_basic_auth() -> None:
    fake = FakeConfluent("backbone:s3cret")
    registry = ConfluentSchemaRegistry(
        "http://registry:8081",
        username="backbone",
        password=SecretStr("s3cret"),
        transport=httpx.MockTransport(fake),
    )
    schema_id = registry.register(SUBJECT, V1)
    assert registry.schema(schema_id) == V1
    posted = fake.requests[0]
    assert (posted.method, posted.url.path) == ("POST", f"/subjects/{SUBJECT}/versions")
    assert posted.headers["content-type"] == CONTENT_TYPE
    assert json.loads(posted.content) == {"schema": V1}
    assert all(request.headers["accept"] == CONTENT_TYPE for request in fake.requests)


def test_confluent_refusal_carries_the_registry_error_code_and_message() -> None:
    wrong = ConfluentSchemaRegistry(
        "http://registry:8081",
        username="backbone",
        password=SecretStr("wrong"),
        transport=httpx.MockTransport(FakeConfluent("backbone:s3cret")),
    )
    with pytest.raises(SchemaRegistryError) as caught:
        wrong.register(SUBJECT, V1)
    assert "40101" in str(caught.value)
    assert "Unauthorized" in str(caught.value)
    assert "wrong" not in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)
    assert not isinstance(caught.value, SchemaNotFoundError)


def test_confluent_not_found_codes_mean_not_found() -> None:
    registry = _confluent(FakeConfluent())
    with pytest.raises(SchemaNotFoundError, match="40403") as caught:
        registry.schema(7)
    assert "Schema 7 not found" in str(caught.value)


def test_confluent_404_without_an_error_code_is_not_a_missing_schema() -> None:
    registry = _confluent(lambda request: httpx.Response(404, text="<html>no such path</html>"))
    with pytest.raises(SchemaRegistryError) as caught:
        registry.schema(1)
    assert not isinstance(caught.value, SchemaNotFoundError)


def test_confluent_server_error_is_a_schema_registry_error() -> None:
    registry = _confluent(lambda request: _error(500, 50001, "Error in the backend datastore"))
    with pytest.raises(SchemaRegistryError, match=r"50001.*backend datastore"):
        registry.register(SUBJECT, V1)


def test_confluent_unreachable_is_a_schema_registry_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(SchemaRegistryError) as caught:
        _confluent(refuse).versions(SUBJECT)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(200, text="not json"), httpx.Response(200, json={"unexpected": 1})],
    ids=["not-json", "wrong-shape"],
)
def test_confluent_unexpected_answer_is_a_schema_registry_error(answer: httpx.Response) -> None:
    with pytest.raises(SchemaRegistryError, match="unexpected answer"):
        _confluent(lambda request: answer).register(SUBJECT, V1)
