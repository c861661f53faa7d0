"""The HTTP API, assembled: health here; ingest and read routes come from their packages.

The API is served by uvicorn on the Faust worker's own event loop (``faust.contrib.asgi``),
so handlers can use the worker's producer and tables directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.app import BackboneApp
from streams.store import Store

_PROBE_TIMEOUT = 0.5


@dataclass(frozen=True)
class HealthSources:
    """What ``/healthz`` asks: the broker, the store and the worker."""

    app: BackboneApp
    store: Store
    brokers: tuple[str, ...]
    embedded_alive: Callable[[], bool] | None = None


def _reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with (
        contextlib.suppress(OSError, ValueError),
        socket.create_connection((host, int(port)), timeout=_PROBE_TIMEOUT),
    ):
        return True
    return False


async def _broker_up(sources: HealthSources) -> bool:
    if sources.embedded_alive is not None and not sources.embedded_alive():
        return False
    for address in sources.brokers:
        if await asyncio.to_thread(_reachable, address):
            return True
    return False


def _worker_ready(app: BackboneApp) -> bool:
    return bool(app.started and not app.should_stop and not app.rebalancing)


def build_api(
    sources: HealthSources, metrics: CollectorRegistry, routers: Sequence[APIRouter] = ()
) -> FastAPI:
    """The backbone's HTTP API: health, metrics, and the routes of the packages."""
    api = FastAPI(
        title="Relational Backbone",
        summary="Event-driven integration backbone for relational public services",
        version="0.1.0",
    )
    for router in routers:
        api.include_router(router)

    @api.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        """200 when the broker, the store and the worker are all ready; else 503."""
        broker = await _broker_up(sources)
        store = await asyncio.to_thread(sources.store.ping)
        worker = _worker_ready(sources.app)
        body: dict[str, Any] = {
            "status": "ok" if broker and store and worker else "unavailable",
            "broker": {
                "status": "up" if broker else "down",
                "bootstrap": list(sources.brokers),
                "embedded": sources.embedded_alive is not None,
            },
            "store": {"status": "up" if store else "down"},
            "worker": {"status": "ready" if worker else "not ready"},
        }
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @api.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def prometheus_metrics() -> Response:
        """Counters and histograms in the Prometheus text format."""
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    return api
