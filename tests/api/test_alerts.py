"""Team alert feeds: each team sees and acts on only its own alerts, every person alert shown
is audited, and the live stream resumes from the last event a client saw."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

from schemas.models import Alert, AlertEvidence, AlertSubjectKind, Severity
from streams.api.alerts import alerts_router
from streams.store import Store

pytestmark = pytest.mark.asyncio

ASC, GP, HOUSING = "adult-social-care", "gp-practice", "housing"
TOKENS = {"asc-token": ASC, "gp-token": GP, "housing-token": HOUSING}
RAISED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
#: How long any one streaming step may take before the test fails rather than hangs.
PATIENCE = 5.0


def alert(
    number: int,
    teams: tuple[str, ...] = (ASC,),
    subject_kind: AlertSubjectKind = AlertSubjectKind.PERSON,
) -> Alert:
    return Alert(
        alert_id=f"alert-{number}",
        rule_id="gone-quiet",
        subject_kind=subject_kind,
        subject=f"p-{number}",
        severity=Severity.HIGH,
        teams=list(teams),
        explanation="Seen weekly by three services, then nothing from anyone for 10 days.",
        evidence=AlertEvidence(
            event_ids=[f"e-{number}"],
            counts={"contacts": 3},
            window_start=RAISED - timedelta(days=28),
            window_end=RAISED,
        ),
        raised_at=RAISED + timedelta(days=number),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'backbone.db'}") as opened:
        opened.alerts.record(
            [
                alert(1, (ASC, GP)),
                alert(2),
                alert(3, (GP,)),
                alert(4, (ASC,), AlertSubjectKind.PLACE),
            ]
        )
        yield opened


@pytest.fixture
def api(store: Store) -> FastAPI:
    app = FastAPI()
    app.include_router(alerts_router(store, TOKENS.get, poll_interval=0.02, keepalive=0.1))
    return app


@pytest_asyncio.fixture
async def client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(api)
    async with httpx.AsyncClient(transport=transport, base_url="http://backbone") as http:
        yield http


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``, polling: uvicorn's server offers no event to await."""
    async with asyncio.timeout(PATIENCE):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def server(api: FastAPI) -> AsyncIterator[uvicorn.Server]:
    """The API on a real socket: httpx's ASGI transport buffers a whole response, so a
    stream that never ends has to be read over HTTP."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        api, lifespan="off", http="h11", ws="none", log_level="warning", log_config=None
    )
    served = uvicorn.Server(config)
    serving = asyncio.create_task(served.serve(sockets=[listening]))
    try:
        await _until(lambda: served.started)
        yield served
    finally:
        served.should_exit = True
        # A stream still running after its client went would hold the shutdown up.
        await asyncio.wait_for(serving, PATIENCE)
        listening.close()


@pytest_asyncio.fixture
async def streaming(server: uvicorn.Server) -> AsyncIterator[httpx.AsyncClient]:
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=PATIENCE) as http:
        yield http


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _feed(
    client: httpx.AsyncClient, team: str = ASC, token: str | None = "asc-token", **params: Any
) -> httpx.Response:
    return await client.get(f"/v1/teams/{team}/alerts", params=params, headers=_auth(token))


def _ids(response: httpx.Response) -> list[str]:
    return [shown["alert_id"] for shown in response.json()["alerts"]]


async def _read_events(
    client: httpx.AsyncClient,
    count: int,
    *,
    team: str = ASC,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """The first ``count`` events of ``team``'s stream (comments skipped), then hang up.

    ``meanwhile`` is called, in a thread, once the stream is open: to change the feed live.
    """
    events: list[dict[str, Any]] = []
    event: dict[str, Any] = {}
    path = f"/v1/teams/{team}/alerts/stream"
    async with (
        asyncio.timeout(PATIENCE),
        client.stream(
            "GET", path, params=params, headers=_auth("asc-token") | (headers or {})
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        if meanwhile is not None:
            await asyncio.to_thread(meanwhile)
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                field, _, value = line.partition(": ")
                event[field] = json.loads(value) if field == "data" else value
                continue
            events.append(event)
            event = {}
            if len(events) == count:
                break
    return events


async def test_a_team_lists_its_own_alerts_in_feed_order(client: httpx.AsyncClient) -> None:
    response = await _feed(client)

    assert response.status_code == 200
    body = response.json()
    assert _ids(response) == ["alert-1", "alert-2", "alert-4"]
    first = body["alerts"][0]
    assert first == {
        **alert(1, (ASC, GP)).model_dump(mode="json"),
        "position": first["position"],
        "status": "open",
        "acknowledged_by": None,
        "acknowledged_at": None,
        "resolved_by": None,
        "resolved_at": None,
        "outcome": None,
        "note": None,
    }
    assert body["last_position"] == body["alerts"][-1]["position"]
    gp = await _feed(client, GP, "gp-token")
    assert _ids(gp) == ["alert-1", "alert-3"]
    assert (await _feed(client, HOUSING, "housing-token")).json() == {
        "alerts": [],
        "last_position": 0,
    }


async def test_the_list_filters_by_status_time_and_position(
    client: httpx.AsyncClient, store: Store
) -> None:
    store.alerts.acknowledge("alert-2", ASC)

    assert _ids(await _feed(client, status="open")) == ["alert-1", "alert-4"]
    assert _ids(await _feed(client, status="acknowledged")) == ["alert-2"]
    assert _ids(await _feed(client, status="resolved")) == []
    assert _ids(await _feed(client, status="all")) == ["alert-1", "alert-4", "alert-2"]
    since = alert(2).raised_at.isoformat()
    assert _ids(await _feed(client, since=since)) == ["alert-4", "alert-2"]
    page = await _feed(client, limit="2")
    assert _ids(page) == ["alert-1", "alert-4"]
    rest = await _feed(client, after=str(page.json()["last_position"]))
    assert _ids(rest) == ["alert-2"]
    assert (await _feed(client, after=str(rest.json()["last_position"]))).json() == {
        "alerts": [],
        "last_position": rest.json()["last_position"],
    }


async def test_reading_a_feed_audits_each_person_alert_shown(
    client: httpx.AsyncClient, store: Store
) -> None:
    await _feed(client)

    audited = [(e.team, e.person_key, e.what, e.basis, e.granted) for e in store.audit.entries()]
    assert audited == [
        (ASC, "p-1", "alert", "routed:alert-1", True),
        (ASC, "p-2", "alert", "routed:alert-2", True),
    ]


@pytest.mark.parametrize(
    ("params", "loc", "msg"),
    [
        ({"status": "closed"}, "query.status", "Input should be 'open', 'acknowledged'"),
        ({"since": "yesterday"}, "query.since", "Input should be a valid datetime"),
        ({"since": "2025-03-01T09:00:00"}, "query.since", "Input should have timezone info"),
        ({"after": "-1"}, "query.after", "Input should be greater than or equal to 0"),
        ({"after": "x"}, "query.after", "Input should be a valid integer"),
        ({"after": str(2**63)}, "query.after", "Input should be less than or equal to"),
        ({"limit": "0"}, "query.limit", "Input should be greater than or equal to 1"),
        ({"limit": "1001"}, "query.limit", "Input should be less than or equal to 1000"),
    ],
)
async def test_a_bad_query_is_422_naming_the_field(
    client: httpx.AsyncClient, store: Store, params: dict[str, str], loc: str, msg: str
) -> None:
    response = await _feed(client, **params)

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == loc
    assert problem["msg"].startswith(msg)
    assert store.audit.entries() == []


@pytest.mark.parametrize("path", ["", "/stream"])
@pytest.mark.parametrize(
    ("headers", "status", "loc"),
    [
        ({}, 401, "header.authorization"),
        ({"Authorization": "Bearer stolen"}, 401, "header.authorization"),
        ({"Authorization": "Basic asc-token"}, 401, "header.authorization"),
        ({"Authorization": "Bearer gp-token"}, 403, "path.team"),
    ],
)
async def test_only_the_teams_own_token_opens_its_feed(
    client: httpx.AsyncClient,
    store: Store,
    path: str,
    headers: dict[str, str],
    status: int,
    loc: str,
) -> None:
    response = await client.get(f"/v1/teams/{ASC}/alerts{path}", headers=headers)

    assert response.status_code == status
    assert [problem["loc"] for problem in response.json()["detail"]] == [loc]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert store.audit.entries() == []


async def test_ack_then_resolve_and_again_changes_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    acked = await client.post("/v1/alerts/alert-1/ack", headers=_auth("gp-token"))
    assert acked.status_code == 200
    assert (acked.json()["status"], acked.json()["acknowledged_by"]) == ("acknowledged", GP)
    again = await client.post("/v1/alerts/alert-1/ack", headers=_auth("asc-token"))
    assert again.json() == acked.json()

    body = {"outcome": "referred_on", "note": "referred to the falls team"}
    resolved = await client.post(
        "/v1/alerts/alert-1/resolve", json=body, headers=_auth("asc-token")
    )
    assert resolved.status_code == 200
    shown = resolved.json()
    assert (shown["status"], shown["resolved_by"], shown["outcome"], shown["note"]) == (
        "resolved",
        ASC,
        "referred_on",
        "referred to the falls team",
    )
    assert shown["position"] > acked.json()["position"]
    repeat = await client.post("/v1/alerts/alert-1/resolve", json=body, headers=_auth("gp-token"))
    assert repeat.json() == shown
    otherwise = await client.post(
        "/v1/alerts/alert-1/resolve", json={"outcome": "helped"}, headers=_auth("asc-token")
    )
    assert otherwise.status_code == 409
    assert otherwise.json()["detail"][0]["loc"] == "path.alert_id"
    assert [feed["status"] for feed in (await _feed(client, GP, "gp-token")).json()["alerts"]] == [
        "open",
        "resolved",
    ]
    assert [alert.alert.alert_id for alert in store.alerts.resolved_since()] == ["alert-1"]


@pytest.mark.parametrize("action", ["ack", "resolve"])
@pytest.mark.parametrize(
    ("alert_id", "token", "status", "msg"),
    [
        ("alert-9", "asc-token", 404, "no alert has this id"),
        ("alert-3", "asc-token", 403, "this alert is not routed to your team"),
        ("alert-1", "housing-token", 403, "this alert is not routed to your team"),
        ("alert-1", None, 401, "a team's bearer token is required"),
    ],
)
async def test_acting_on_an_alert_not_yours_is_refused(
    client: httpx.AsyncClient,
    store: Store,
    action: str,
    alert_id: str,
    token: str | None,
    status: int,
    msg: str,
) -> None:
    before = store.alerts.get(alert_id)
    response = await client.post(
        f"/v1/alerts/{alert_id}/{action}", json={"outcome": "helped"}, headers=_auth(token)
    )

    assert response.status_code == status
    (problem,) = response.json()["detail"]
    assert problem["msg"] == msg
    assert problem["loc"] == ("header.authorization" if status == 401 else "path.alert_id")
    assert store.alerts.get(alert_id) == before
    assert store.audit.entries() == []


@pytest.mark.parametrize(
    ("content", "loc", "msg"),
    [
        ("{}", "body.outcome", "Field required"),
        ('{"outcome": "fixed"}', "body.outcome", "Input should be 'helped'"),
        ('{"outcome": "helped", "note": ""}', "body.note", "String should have at least 1"),
        ('{"outcome": "helped", "by": "x"}', "body.by", "Extra inputs are not permitted"),
        ("{not json", "body", "Invalid JSON"),
    ],
)
async def test_a_bad_resolution_is_422_naming_the_field(
    client: httpx.AsyncClient, store: Store, content: str, loc: str, msg: str
) -> None:
    response = await client.post(
        "/v1/alerts/alert-1/resolve", content=content, headers=_auth("asc-token")
    )

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == loc
    assert problem["msg"].startswith(msg)
    open_alert = store.alerts.get("alert-1")
    assert open_alert is not None
    assert open_alert.status == "open"


@pytest.mark.parametrize(
    ("headers", "params", "loc"),
    [
        ({"Last-Event-ID": "seven"}, None, "header.last-event-id"),
        ({"Last-Event-ID": "-1"}, None, "header.last-event-id"),
        ({"Last-Event-ID": str(2**63)}, None, "header.last-event-id"),
        ({}, {"after": "1.5"}, "query.after"),
    ],
)
async def test_a_stream_from_no_position_is_422(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    params: dict[str, str] | None,
    loc: str,
) -> None:
    response = await client.get(
        f"/v1/teams/{ASC}/alerts/stream", params=params, headers=_auth("asc-token") | headers
    )

    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [loc]


async def test_the_stream_sends_the_teams_alerts_as_events(
    streaming: httpx.AsyncClient, store: Store
) -> None:
    events = await _read_events(streaming, 3)

    assert [event["event"] for event in events] == ["alert"] * 3
    assert [event["data"]["alert_id"] for event in events] == ["alert-1", "alert-2", "alert-4"]
    assert [event["id"] for event in events] == [str(event["data"]["position"]) for event in events]
    assert {event["data"]["status"] for event in events} == {"open"}
    assert [entry.person_key for entry in store.audit.entries()] == ["p-1", "p-2"]


async def test_the_stream_resumes_after_the_last_event_id(streaming: httpx.AsyncClient) -> None:
    first, *_ = await _read_events(streaming, 1)

    resumed = await _read_events(streaming, 2, headers={"Last-Event-ID": first["id"]})
    assert [event["data"]["alert_id"] for event in resumed] == ["alert-2", "alert-4"]
    from_query = await _read_events(streaming, 1, params={"after": resumed[0]["id"]})
    assert [event["data"]["alert_id"] for event in from_query] == ["alert-4"]
    # The header, which a browser sends on reconnecting, wins over the URL's starting point.
    both = await _read_events(
        streaming, 1, headers={"Last-Event-ID": resumed[0]["id"]}, params={"after": "0"}
    )
    assert [event["data"]["alert_id"] for event in both] == ["alert-4"]


async def test_the_stream_follows_new_and_changed_alerts_live(
    streaming: httpx.AsyncClient, store: Store
) -> None:
    backlog = await _read_events(streaming, 3)

    def change() -> None:
        store.alerts.record([alert(5, (ASC,)), alert(6, (GP,))])
        store.alerts.acknowledge("alert-2", ASC)

    live = await _read_events(
        streaming, 2, headers={"Last-Event-ID": backlog[-1]["id"]}, meanwhile=change
    )
    assert [(event["data"]["alert_id"], event["data"]["status"]) for event in live] == [
        ("alert-5", "open"),
        ("alert-2", "acknowledged"),
    ]
    assert int(live[0]["id"]) < int(live[1]["id"])


async def test_a_quiet_stream_sends_keep_alive_comments(
    server: uvicorn.Server, streaming: httpx.AsyncClient
) -> None:
    path = f"/v1/teams/{HOUSING}/alerts/stream"
    async with (
        asyncio.timeout(PATIENCE),
        streaming.stream("GET", path, headers=_auth("housing-token")) as response,
    ):
        lines = response.aiter_lines()
        assert await anext(lines) == ": keep-alive"


async def test_the_stream_ends_when_the_client_goes(
    server: uvicorn.Server, streaming: httpx.AsyncClient
) -> None:
    await _read_events(streaming, 1)

    await _until(lambda: not server.server_state.tasks)
