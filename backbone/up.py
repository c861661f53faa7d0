"""``backbone up``: the broker (embedded or given), the worker, the HTTP API and the store.

The embedded broker starts first, since the connectors' producer connects as it is built.
mode's Worker owns the process's signals: Ctrl-C or SIGTERM stops the API and the worker,
and then the broker goes. A broker that dies under us stops everything with a clear message
rather than a worker limping on without its topics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import faust
from mode import Service
from rich.console import Console

from backbone import running
from backbone.broker import EmbeddedBroker
from backbone.runtime import Backbone, assemble
from backbone.settings import Settings
from schemas.errors import BrokerError

log = logging.getLogger(__name__)

_WATCH_INTERVAL = 0.2


class BrokerWatch(Service):
    """Stops the worker if the embedded broker dies under it."""

    def __init__(self, broker: EmbeddedBroker, **kwargs: Any) -> None:
        self.broker = broker
        self.died_with: int | None = None
        super().__init__(**kwargs)

    @Service.task
    async def _watch(self) -> None:
        while not self.should_stop:
            if not self.broker.alive:
                self.died_with = self.broker.exit_code
                await self.crash(BrokerError(f"embedded broker exited ({self.died_with})"))
                return
            await asyncio.sleep(_WATCH_INTERVAL)


class UpWorker(faust.Worker):
    """Faust's worker, announcing what ``backbone up`` started once it is ready."""

    def __init__(self, backbone: Backbone, console: Console, *services: Any, **kw: Any) -> None:
        self.backbone = backbone
        self.console = console
        self.started_at = time.monotonic()
        super().__init__(backbone.app, *services, **kw)

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        settings = self.backbone.settings
        running.write(
            settings.data_dir,
            running.Running(os.getpid(), list(self.backbone.brokers), _http_url(settings)),
        )
        announce(self.backbone, self.console, time.monotonic() - self.started_at)


def _http_url(settings: Settings) -> str:
    return f"http://{settings.http_host}:{settings.http_port}"


def announce(backbone: Backbone, console: Console, seconds: float) -> None:
    """Print what is running and where."""
    settings = backbone.settings
    broker = (
        f"embedded Tansu at {backbone.broker.bootstrap} (memory-only)"
        if backbone.broker
        else ", ".join(backbone.brokers)
    )
    registry = settings.schema_registry.url or f"embedded ({settings.data_dir / 'schemas.sqlite'})"
    kafka = settings.kafka
    console.print(f"[bold green]Relational Backbone is up[/] in {seconds:.1f}s")
    console.print(f"  broker    {broker}")
    console.print(f"  topics    {kafka.topic_prefix}.* ({kafka.partitions} partitions)")
    console.print(f"  store     {settings.database_url}")
    console.print(f"  schemas   {registry}")
    console.print(f"  http      {_http_url(settings)}  (/healthz, /metrics, /openapi.json, /docs)")
    console.print("Ctrl-C stops everything.")


def up(settings: Settings, console: Console) -> int:
    """Run until Ctrl-C or SIGTERM (exit 0), or until the broker dies (exit 1)."""
    broker = None
    if settings.kafka.embedded:
        broker = EmbeddedBroker(log_file=settings.data_dir / "broker.log")
        broker.start()
    try:
        backbone = assemble(settings, broker)
        try:
            if broker is not None:
                broker.create_topics(backbone.topic_specs())
            return _run(backbone, broker, console)
        finally:
            running.remove(settings.data_dir)
            backbone.close()
    finally:
        if broker is not None:
            broker.stop()


def _run(backbone: Backbone, broker: EmbeddedBroker | None, console: Console) -> int:
    watch = BrokerWatch(broker) if broker is not None else None
    worker = UpWorker(
        backbone,
        console,
        *([watch] if watch else []),
        loglevel=backbone.settings.log_level,
        redirect_stdouts=False,
        quiet=True,
    )
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    if watch is not None and watch.died_with is not None:
        console.print(
            f"[bold red]backbone up stopped: the embedded broker exited "
            f"(code {watch.died_with}).[/] It keeps topics in memory only, so they are "
            "gone; accepted events are in the store. Run `backbone up` again."
        )
        return 1
    return code
