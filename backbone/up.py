"""``backbone up``: the broker (embedded or given), the worker, the HTTP API and the store.

mode's Worker owns the process's signals: Ctrl-C or SIGTERM stops the API, the worker and
then the embedded broker, in that order. A broker that dies under us stops everything with
a clear message rather than a worker limping on without its topics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from mode import Service
from rich.console import Console

from backbone.broker import EmbeddedBroker
from backbone.runtime import Backbone
from schemas.errors import BrokerError

log = logging.getLogger(__name__)

_WATCH_INTERVAL = 0.2


class EmbeddedBrokerService(Service):
    """Runs the embedded broker for the worker's lifetime, started before the app."""

    def __init__(self, backbone: Backbone, broker: EmbeddedBroker, **kwargs: Any) -> None:
        self.backbone = backbone
        self.broker = broker
        self.died_with: int | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await asyncio.to_thread(self.broker.start)
        await asyncio.to_thread(self.broker.create_topics, self.backbone.topic_specs())

    @Service.task
    async def _watch(self) -> None:
        while not self.should_stop:
            if not self.broker.alive:
                self.died_with = self.broker.exit_code
                await self.crash(BrokerError(f"embedded broker exited ({self.died_with})"))
                return
            await asyncio.sleep(_WATCH_INTERVAL)

    async def on_stop(self) -> None:
        await asyncio.to_thread(self.broker.stop)


class UpWorker(faust.Worker):
    """Faust's worker, announcing what ``backbone up`` started once it is ready."""

    def __init__(self, backbone: Backbone, console: Console, *services: Any, **kw: Any) -> None:
        self.backbone = backbone
        self.console = console
        self.started_at = time.monotonic()
        super().__init__(backbone.app, *services, **kw)

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        announce(self.backbone, self.console, time.monotonic() - self.started_at)


def announce(backbone: Backbone, console: Console, seconds: float) -> None:
    """Print what is running and where."""
    settings = backbone.settings
    http = f"http://{settings.http_host}:{settings.http_port}"
    broker = (
        f"embedded Tansu at {backbone.broker.bootstrap} (memory-only)"
        if backbone.broker
        else ", ".join(backbone.brokers)
    )
    registry = settings.schema_registry.url or f"embedded ({settings.data_dir / 'schemas.sqlite'})"
    console.print(f"[bold green]Relational Backbone is up[/] in {seconds:.1f}s")
    console.print(f"  broker    {broker}")
    console.print(
        f"  topics    {settings.kafka.topic_prefix}.* ({settings.kafka.partitions} partitions)"
    )
    console.print(f"  store     {settings.database_url}")
    console.print(f"  schemas   {registry}")
    console.print(f"  http      {http}  (/healthz, /openapi.json, /docs)")
    console.print("Ctrl-C stops everything.")


def run(backbone: Backbone, console: Console) -> int:
    """Run until Ctrl-C or SIGTERM (exit 0), or until the broker dies (exit 1)."""
    services = []
    watcher = None
    if backbone.broker is not None:
        watcher = EmbeddedBrokerService(backbone, backbone.broker)
        services.append(watcher)
    worker = UpWorker(
        backbone,
        console,
        *services,
        loglevel=backbone.settings.log_level,
        redirect_stdouts=False,
        quiet=True,
    )
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        backbone.store.close()
        if backbone.broker is not None:
            backbone.broker.stop()
    if watcher is not None and watcher.died_with is not None:
        console.print(
            f"[bold red]backbone up stopped: the embedded broker exited "
            f"(code {watcher.died_with}).[/] It keeps topics in memory only, so they are "
            "gone; accepted events are in the store. Run `backbone up` again."
        )
        return 1
    return code
