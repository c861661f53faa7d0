"""The HTTP ingest: agencies POST events as JSON and get 202 only once the event is durable.

One route per event kind (``POST /v1/events/{kind}``) and one per kind for batches
(``POST /v1/events/{kind}:batch``), so that ``/openapi.json`` shows each kind's own request
schema. Concrete paths also mean the colon in the batch path cannot collide with the
single-event path; a catch-all, registered last, answers 404 for any other kind (so no POST
route of another router may live at ``/v1/events/<one segment>``).

Handlers read the raw bytes themselves instead of declaring a pydantic body: validation goes
through the shared :class:`~connectors.ingest.Ingest` like every other connector's, and a
rejected body is dead-lettered byte for byte. A batch is one JSON array; each item's dead
letter carries the item re-serialised as compact ASCII JSON, since the array's bytes are shared.

Every answer that is not a success has the body ``{"detail": [{"loc": ..., "msg": ...}]}``:
``loc`` is a dotted field path, ``(body)`` for the body as a whole, ``header.<name>``,
``path.kind`` or ``(broker)``. Messages never carry field values (they may be personal data).
A batch answers 200 with one result per item, in order, whose ``status`` and ``errors`` are
the status and ``detail`` the single-event route would have given for that item alone.

Sending again is always safe: the same event (same id, same content) is a 202 again with
``"repeat": true`` and is not published twice. So a client answered 503 (``Retry-After``), or
a batch with 503 items, sends the same events again later.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic_core import from_json
from starlette.requests import ClientDisconnect

from connectors.errors import FieldError, PublishError
from connectors.ingest import Ingest, Outcome, Status, Submission
from connectors.refusals import refusal_errors
from schemas.errors import SchemaRegistryError
from schemas.models import MODEL_OF_KIND
from schemas.topics import EventKind

log = logging.getLogger(__name__)

#: The ``connector`` label of metrics and dead letters for events that came over HTTP.
CONNECTOR = "http"
#: Seconds a client is asked to wait after a 503 before sending the same event again.
RETRY_AFTER_SECONDS = 5

_STATUS_CODE: Mapping[Status, int] = {
    Status.ACCEPTED: 202,
    Status.REPEAT: 202,
    Status.INVALID: 422,
    Status.FORBIDDEN: 403,
    Status.CONFLICT: 409,
    Status.UNAVAILABLE: 503,
}


class FieldProblem(BaseModel):
    """Why a request, or one of its fields, was refused."""

    loc: str
    msg: str


class Problem(BaseModel):
    """The body of every refusal."""

    detail: list[FieldProblem]


class Accepted(BaseModel):
    """The body of a 202: the event is durable; ``repeat`` if it had been accepted before."""

    event_id: UUID
    repeat: bool


class ItemResult(BaseModel):
    """One batch item's answer: what the single-event route would have said for it alone."""

    index: int
    status: int
    event_id: UUID | None
    repeat: bool
    errors: list[FieldProblem]


class BatchResults(BaseModel):
    """The body of a batch's 200: one result per item, in the order they were sent."""

    results: list[ItemResult]


class _RefusedError(Exception):
    """A request refused as a whole, before or instead of reaching the ingest."""

    def __init__(
        self, status: int, loc: str, msg: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(msg)
        self.status, self.problem, self.headers = status, FieldProblem(loc=loc, msg=msg), headers


def ingest_router(
    ingest: Ingest,
    authenticate: Callable[[str], str | None],
    *,
    max_body_bytes: int = 256 * 1024,
    max_batch: int = 500,
) -> APIRouter:
    """The ingest routes, for the API to include.

    ``authenticate`` maps a bearer token to its agency's id, or None for an unknown token;
    ``max_body_bytes`` bounds what is read of any request body (single or batch) and
    ``max_batch`` the number of events in one batch.
    """
    router = APIRouter(tags=["ingest"])
    for kind in EventKind:
        schema = _inline(MODEL_OF_KIND[kind].model_json_schema())
        name = kind.value.replace("-", "_")
        router.add_api_route(
            f"/v1/events/{kind.value}:batch",
            _guarded(kind, _batch_endpoint(kind, ingest, authenticate, max_body_bytes, max_batch)),
            methods=["POST"],
            name=f"publish_{name}_batch",
            operation_id=f"publish_{name}_batch",
            summary=f"Publish up to {max_batch} {kind.value} events, answered one by one",
            status_code=200,
            responses=_documented(200, BatchResults, 401, 404, 413, 422, 503),
            openapi_extra=_request_body({"type": "array", "items": schema, "maxItems": max_batch}),
        )
        router.add_api_route(
            f"/v1/events/{kind.value}",
            _guarded(kind, _single_endpoint(kind, ingest, authenticate, max_body_bytes)),
            methods=["POST"],
            name=f"publish_{name}",
            operation_id=f"publish_{name}",
            summary=f"Publish one {kind.value} event",
            status_code=202,
            responses=_documented(202, Accepted, 401, 403, 404, 409, 413, 422, 503),
            openapi_extra=_request_body(schema),
        )

    async def unknown_kind() -> Response:
        known = ", ".join(kind.value for kind in EventKind)
        return _refusal(404, [FieldProblem(loc="path.kind", msg=f"unknown kind; one of {known}")])

    # Registered after every concrete route, so it only ever sees kinds that are not ours.
    router.add_api_route(
        "/v1/events/{kind}", unknown_kind, methods=["POST"], include_in_schema=False
    )
    return router


_Endpoint = Callable[[Request], Awaitable[Response]]


def _single_endpoint(
    kind: EventKind, ingest: Ingest, authenticate: Callable[[str], str | None], limit: int
) -> _Endpoint:
    async def publish(request: Request) -> Response:
        agency = _agency(request, authenticate)
        raw = await _body(request, limit)
        (outcome,) = await ingest.accept_async(
            kind, [Submission(raw, raw)], agency=agency, connector=CONNECTOR
        )
        status, problems = _answer(outcome)
        if outcome.accepted:
            accepted = Accepted(event_id=outcome.event_id, repeat=outcome.status == Status.REPEAT)
            return JSONResponse(accepted.model_dump(mode="json"), status_code=status)
        return _refusal(status, problems)

    return publish


def _batch_endpoint(
    kind: EventKind,
    ingest: Ingest,
    authenticate: Callable[[str], str | None],
    limit: int,
    max_batch: int,
) -> _Endpoint:
    async def publish_batch(request: Request) -> Response:
        agency = _agency(request, authenticate)
        raw = await _body(request, limit)
        try:
            items = _array(raw, max_batch)
        except _RefusedError as refused:
            if refused.status == 422:  # bad JSON, or not an array: keep what was sent
                why = FieldError(refused.problem.loc, refused.problem.msg)
                await asyncio.to_thread(
                    ingest.dead_letter,
                    Submission(raw, raw),
                    source=ingest.topics.source(kind),
                    agency=agency,
                    connector=CONNECTOR,
                    why=why,
                )
            raise
        # from_json yields no lone surrogates and no ints json.dumps cannot print, and ASCII
        # output always encodes: re-serialising a parsed item cannot fail.
        raws = [json.dumps(item, separators=(",", ":")).encode() for item in items]
        submissions = [Submission(raw, raw, position=index) for index, raw in enumerate(raws)]
        outcomes = await ingest.accept_async(kind, submissions, agency=agency, connector=CONNECTOR)
        results = []
        for index, outcome in enumerate(outcomes):
            status, problems = _answer(outcome)
            results.append(
                ItemResult(
                    index=index,
                    status=status,
                    event_id=outcome.event_id,
                    repeat=outcome.status == Status.REPEAT,
                    errors=problems,
                )
            )
        return JSONResponse(BatchResults(results=results).model_dump(mode="json"))

    return publish_batch


def _guarded(kind: EventKind, endpoint: _Endpoint) -> _Endpoint:
    """Turn every failure into an answer: bad input is 4xx, an outage 503, a bug 500."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except _RefusedError as refused:
            return _refusal(refused.status, [refused.problem], refused.headers)
        except ClientDisconnect:
            # Nobody is left to read the answer; nothing was submitted.
            return Response(status_code=400)
        except (PublishError, SchemaRegistryError) as exc:
            # Raised before any acknowledgement (a send that could not start, a registry
            # outage): nothing of this request is recorded as accepted, so the client sends
            # it again; an item that did reach the broker is dropped downstream by event id.
            log.error("http ingest of %s unavailable: %s", kind.value, exc)
            return _refusal(*_answer(Outcome(Status.UNAVAILABLE)))
        except Exception:
            log.exception("http ingest of %s failed unexpectedly", kind.value)
            return _refusal(500, [FieldProblem(loc="(server)", msg="internal error; not accepted")])

    return guarded


def _answer(outcome: Outcome) -> tuple[int, list[FieldProblem]]:
    """The HTTP status of one outcome, and why it was refused (as every connector says it)."""
    problems = [FieldProblem(loc=error.loc, msg=error.msg) for error in refusal_errors(outcome)]
    return _STATUS_CODE[outcome.status], problems


def _refusal(
    status: int, problems: list[FieldProblem], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A refusal; a 503 always says when to try again."""
    extra = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    body = Problem(detail=problems).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers={**(headers or {}), **extra})


def _agency(request: Request, authenticate: Callable[[str], str | None]) -> str:
    """The agency of the request's bearer token; 401 if it has none we know."""
    header = request.headers.get("authorization")
    if header is None:
        raise _RefusedError(401, "header.authorization", "missing", {"WWW-Authenticate": "Bearer"})
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _RefusedError(
            401, "header.authorization", "expected 'Bearer <token>'", {"WWW-Authenticate": "Bearer"}
        )
    agency = authenticate(token.strip())
    if agency is None:
        raise _RefusedError(
            401,
            "header.authorization",
            "unknown token",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return agency


async def _body(request: Request, limit: int) -> bytes:
    """The request's bytes, refusing more than ``limit`` whatever Content-Length claims."""
    too_large = _RefusedError(413, "(body)", f"larger than {limit} bytes")
    declared = request.headers.get("content-length", "")
    # An absurdly long number is too large without parsing it (int() caps digit strings).
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _array(raw: bytes, max_batch: int) -> list[Any]:
    """The items of a batch body: a JSON array of at most ``max_batch`` values.

    Parsed with pydantic's own JSON parser, so a batch item accepts exactly the JSON that the
    single-event route would, and invalid JSON is reported the same way.
    """
    try:
        items = from_json(raw)
    except ValueError as exc:
        raise _RefusedError(422, "(body)", f"Invalid JSON: {exc}") from None
    if not isinstance(items, list):
        raise _RefusedError(422, "(body)", "Input should be a JSON array of events")
    if len(items) > max_batch:
        raise _RefusedError(413, "(body)", f"more than {max_batch} events in one batch")
    return items


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` references replaced by the definitions themselves.

    ``openapi_extra`` cannot add components, and ``#/$defs/...`` would resolve against the
    OpenAPI document's root; the contracts are not recursive, so inlining terminates.
    """
    definitions: dict[str, Any] = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                siblings = {key: value for key, value in node.items() if key != "$ref"}
                return {**resolve(definitions[ref.removeprefix("#/$defs/")]), **siblings}
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _request_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _documented(
    status: int, success: type[BaseModel], *refusals: int
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses``: the success model, and :class:`Problem` for each refusal."""
    documented: dict[int | str, dict[str, Any]] = {status: {"model": success}}
    documented.update({refusal: {"model": Problem} for refusal in refusals})
    return documented
