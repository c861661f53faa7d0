"""Frontline teams' alert feeds: a list, a live Server-Sent Events stream, ack and resolve.

A team's token opens its own feed only; another team's feed, or acting on an alert not
routed to the team, is 403, so no team learns of another's alerts. Alerts name persons only
by pseudonymous key, but what an alert says about a person is still about that person: every
person alert a response shows (listed, streamed, acknowledged or resolved) is written to the
read audit (what ``alert``, basis ``routed:<alert id>``, the routing that let the team see it).
Place alerts are aggregate and not audited.

The stream follows the store's feed positions: each event's ``id`` is the alert's position,
so a reconnecting client's ``Last-Event-ID`` resumes after it, and an alert that is
acknowledged or resolved comes again, later, with its new status.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.sse import EventSourceResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from schemas.models import Alert, AlertSubjectKind, Note
from streams.api.common import bearer_holder, problems
from streams.store import AlertStatus, FeedAlert, Outcome, Refused, Store

#: The ``what`` of the audit rows this API writes.
AUDITED_AS = "alert"

#: How many alerts one list response, or one poll of the stream, returns at most.
MAX_LIMIT = 1000

#: The greatest feed position the store can hold (a signed 64-bit integer).
MAX_POSITION = 2**63 - 1


class TeamAlert(Alert):
    """An alert as raised, with its feed position and where it is in the teams' hands."""

    position: int
    status: AlertStatus
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    outcome: Outcome | None
    note: str | None


class AlertList(BaseModel):
    """A team's alerts in feed order, and the position to ask ``after`` for the next page (or
    to start the stream from)."""

    alerts: list[TeamAlert]
    last_position: int


class FeedQuery(BaseModel):
    """The list's query: which alerts, from where, how many."""

    status: Literal["open", "acknowledged", "resolved", "all"] = "all"
    since: AwareDatetime | None = None
    after: Annotated[int, Field(ge=0, le=MAX_POSITION)] = 0
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 100


class Resolution(BaseModel):
    """How the team dealt with the alert."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    note: Note | None = None


def _team_alert(feed_alert: FeedAlert) -> TeamAlert:
    return TeamAlert(
        **dict(feed_alert.alert),
        position=feed_alert.position,
        status=feed_alert.status,
        acknowledged_by=feed_alert.acknowledged_by,
        acknowledged_at=feed_alert.acknowledged_at,
        resolved_by=feed_alert.resolved_by,
        resolved_at=feed_alert.resolved_at,
        outcome=feed_alert.outcome,
        note=feed_alert.note,
    )


def _sse(feed_alert: FeedAlert) -> bytes:
    data = _team_alert(feed_alert).model_dump_json()  # one line: JSON escapes newlines
    return f"id: {feed_alert.position}\nevent: alert\ndata: {data}\n\n".encode()


def _invalid(exc: ValidationError, where: str) -> JSONResponse:
    found = [
        (".".join([where, *(str(part) for part in error["loc"])]), error["msg"])
        for error in exc.errors(include_input=False, include_url=False)
    ]
    return problems(422, *found)


def _unauthorised() -> JSONResponse:
    return problems(401, ("header.authorization", "a team's bearer token is required"))


def _not_yours() -> JSONResponse:
    return problems(403, ("path.team", "a team reads only its own alerts"))


_REFUSALS = {
    Refused.UNKNOWN: (404, "no alert has this id"),
    Refused.NOT_ROUTED: (403, "this alert is not routed to your team"),
    Refused.RESOLVED_OTHERWISE: (409, "resolved already, with another outcome or note"),
}


def _start(after: str | None, last_event_id: str | None) -> int | JSONResponse:
    """The feed position a stream starts after: the browser's ``Last-Event-ID`` on a
    reconnection, else ``?after=``, else 0 (the whole feed)."""
    loc, given = ("header.last-event-id", last_event_id)
    if given is None:
        loc, given = ("query.after", after or "0")
    if not given.isascii() or not given.isdigit() or int(given) > MAX_POSITION:
        return problems(422, (loc, "should be a feed position: a whole number, 0 or more"))
    return int(given)


def alerts_router(
    store: Store,
    team_for_token: Callable[[str], str | None],
    *,
    poll_interval: float = 0.2,
    keepalive: float = 15.0,
) -> APIRouter:
    """Team feeds and the actions on their alerts, for team tokens. The stream polls the store
    every ``poll_interval`` seconds and sends a comment after ``keepalive`` quiet seconds, so
    that proxies keep it open."""
    router = APIRouter(tags=["alerts"])

    def team_of(request: Request) -> str | None:
        return bearer_holder(request, team_for_token)

    def shown(team: str, feed_alerts: Sequence[FeedAlert]) -> None:
        """Audit the person alerts about to be shown to ``team``."""
        for feed_alert in feed_alerts:
            alert = feed_alert.alert
            if alert.subject_kind is AlertSubjectKind.PERSON:
                basis = f"routed:{alert.alert_id}"
                store.audit.record(team, alert.subject, AUDITED_AS, basis, granted=True)

    _add_feed_routes(
        router, store, team_of, shown, poll_interval=poll_interval, keepalive=keepalive
    )
    _add_action_routes(router, store, team_of, shown)
    return router


def _add_feed_routes(
    router: APIRouter,
    store: Store,
    team_of: Callable[[Request], str | None],
    shown: Callable[[str, Sequence[FeedAlert]], None],
    *,
    poll_interval: float,
    keepalive: float,
) -> None:
    """``GET /v1/teams/{team}/alerts`` and ``GET /v1/teams/{team}/alerts/stream``."""

    def refused(team: str, request: Request) -> JSONResponse | None:
        caller = team_of(request)
        if caller is None:
            return _unauthorised()
        return None if caller == team else _not_yours()

    def feed(team: str, asked: FeedQuery) -> AlertList:
        status = None if asked.status == "all" else AlertStatus(asked.status)
        found = store.alerts.for_team(team, status, asked.after, asked.since, asked.limit)
        shown(team, found)
        last = found[-1].position if found else asked.after
        return AlertList(alerts=[_team_alert(each) for each in found], last_position=last)

    @router.get("/v1/teams/{team}/alerts", responses={200: {"model": AlertList}})
    async def alerts(
        team: str,
        request: Request,
        *,
        status: Annotated[
            str | None, Query(description="open, acknowledged, resolved or all (the default)")
        ] = None,
        since: Annotated[
            str | None, Query(description="only alerts raised at or after this ISO 8601 instant")
        ] = None,
        after: Annotated[
            str | None, Query(description="only alerts changed after this feed position")
        ] = None,
        limit: Annotated[str | None, Query(description=f"at most 1 to {MAX_LIMIT}")] = None,
    ) -> JSONResponse:
        """The team's alerts in feed order (each at the position of its latest change)."""
        if (refusal := refused(team, request)) is not None:
            return refusal
        given = {"status": status, "since": since, "after": after, "limit": limit}
        try:
            asked = FeedQuery.model_validate({k: v for k, v in given.items() if v is not None})
        except ValidationError as exc:
            return _invalid(exc, "query")
        listing = await asyncio.to_thread(feed, team, asked)
        return JSONResponse(listing.model_dump(mode="json"))

    async def events(team: str, after: int, request: Request) -> AsyncIterator[bytes]:
        position, quiet_since = after, time.monotonic()
        # Starlette stops the stream on a disconnect only under servers of ASGI spec < 2.4;
        # under later ones a send would fail only at the next event or keep-alive.
        while not await request.is_disconnected():
            found = await asyncio.to_thread(
                store.alerts.for_team, team, since_position=position, limit=MAX_LIMIT
            )
            if found:
                await asyncio.to_thread(shown, team, found)
                for feed_alert in found:
                    yield _sse(feed_alert)
                position, quiet_since = found[-1].position, time.monotonic()
                continue
            if time.monotonic() - quiet_since >= keepalive:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(poll_interval)

    @router.get(
        "/v1/teams/{team}/alerts/stream",
        responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    )
    async def stream(
        team: str,
        request: Request,
        after: Annotated[
            str | None, Query(description="start after this feed position (default 0: all)")
        ] = None,
        last_event_id: Annotated[
            str | None, Header(description="resume after this event (wins over `after`)")
        ] = None,
    ) -> Response:
        """The team's alerts as Server-Sent Events (``event: alert``, ``id``: feed position),
        first those after the starting position, then each new or changed one as it comes;
        until the client goes."""
        if (refusal := refused(team, request)) is not None:
            return refusal
        start = _start(after, last_event_id)
        if isinstance(start, JSONResponse):
            return start
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return EventSourceResponse(events(team, start, request), headers=headers)


def _add_action_routes(
    router: APIRouter,
    store: Store,
    team_of: Callable[[Request], str | None],
    shown: Callable[[str, Sequence[FeedAlert]], None],
) -> None:
    """``POST /v1/alerts/{alert_id}/ack`` and ``POST /v1/alerts/{alert_id}/resolve``."""

    async def answered(team: str, done: FeedAlert | Refused) -> JSONResponse:
        if isinstance(done, Refused):
            status, msg = _REFUSALS[done]
            return problems(status, ("path.alert_id", msg))
        await asyncio.to_thread(shown, team, [done])
        return JSONResponse(_team_alert(done).model_dump(mode="json"))

    @router.post("/v1/alerts/{alert_id}/ack", responses={200: {"model": TeamAlert}})
    async def acknowledge(alert_id: str, request: Request) -> JSONResponse:
        """The team has seen the alert and is on it; again changes nothing."""
        team = team_of(request)
        if team is None:
            return _unauthorised()
        done = await asyncio.to_thread(store.alerts.acknowledge, alert_id, team)
        return await answered(team, done)

    @router.post(
        "/v1/alerts/{alert_id}/resolve",
        responses={200: {"model": TeamAlert}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": Resolution.model_json_schema()}},
            }
        },
    )
    async def resolve(alert_id: str, request: Request) -> JSONResponse:
        """The team has dealt with the alert, with an outcome; again the same way changes
        nothing, another way is 409."""
        team = team_of(request)
        if team is None:
            return _unauthorised()
        try:
            asked = Resolution.model_validate_json(await request.body())
        except ValidationError as exc:
            return _invalid(exc, "body")
        done = await asyncio.to_thread(
            store.alerts.resolve, alert_id, team, asked.outcome, asked.note
        )
        return await answered(team, done)
