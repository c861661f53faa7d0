"""What the connector commands (``publish``, ``outbox relay``) share.

The settings, the broker (``--bootstrap``, else the configured Kafka, else the embedded broker
of the ``backbone up`` running from the same data folder), the store whose ledger makes
publishing idempotent, and a stop on Ctrl-C or SIGTERM that lets the current step finish.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from schemas.errors import BackboneError

if TYPE_CHECKING:  # the connectors bring Kafka and the SDK, which `backbone --help` needs not
    from connectors.ingest import Ingest

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

#: Exit codes of the connector commands.
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="YAML configuration file (or BACKBONE_CONFIG).", show_default=False
    ),
]
BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        help="Kafka bootstrap HOST:PORT \\[default: the configured Kafka, else the embedded "
        "broker of the `backbone up` running from the same data folder].",
        show_default=False,
    ),
]
AgencyOption = Annotated[
    str,
    typer.Option(
        "--agency", help="Id of the agency publishing; events of another agency are refused."
    ),
]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Say why on stderr and exit with ``code``."""
    errors.print(f"[red]{escape(message)}[/]")
    raise typer.Exit(code)


@contextmanager
def connected_ingest(config: Path | None, bootstrap: str | None) -> Iterator[Ingest]:
    """The shared ingest over a producer to the broker, with the store's ledger; closed after.

    Exits 2 for a configuration that cannot be used, 3 when the broker cannot be reached.
    """
    # Imported here: they bring the worker's dependencies, which `backbone --help` needs not.
    from backbone.running import bootstrap_servers  # noqa: PLC0415
    from backbone.runtime import ingest_for  # noqa: PLC0415
    from backbone.settings import load_settings  # noqa: PLC0415
    from streams.store import Store  # noqa: PLC0415

    try:
        settings = load_settings(config)
        brokers = [bootstrap] if bootstrap else bootstrap_servers(settings)
        store = Store.open(settings.database_url)
    except BackboneError as exc:
        fail(str(exc))
    try:
        try:
            ingest = ingest_for(settings, store, brokers)
        except BackboneError as exc:
            fail(str(exc), EXIT_UNAVAILABLE)
        try:
            yield ingest
        finally:
            ingest.close()
    finally:
        store.close()


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that Ctrl-C or SIGTERM sets, so that a loop stops after its current step.

    A second Ctrl-C interrupts at once. The previous handlers come back afterwards.
    """
    stop = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
