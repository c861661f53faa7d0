"""``backbone publish``: a CSV or JSON Lines file, or a folder of nightly drops."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from backbone.commands.connecting import (
    EXIT_REJECTED,
    EXIT_UNAVAILABLE,
    AgencyOption,
    BootstrapOption,
    ConfigOption,
    connected_ingest,
    console,
    fail,
    stop_on_signals,
)
from schemas.topics import EventKind


def publish(
    *,
    kind: Annotated[EventKind, typer.Option(help="The kind of event every record is.")],
    agency: AgencyOption,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A .csv, .jsonl or .ndjson file.", exists=True, dir_okay=False, show_default=False
        ),
    ] = None,
    watch: Annotated[
        Path | None,
        typer.Option(
            help="Watch this folder for drops instead of publishing one file.",
            exists=True,
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    interval: Annotated[
        float, typer.Option(help="Seconds between two polls of --watch.", min=0.05)
    ] = 5.0,
    bootstrap: BootstrapOption = None,
    config: ConfigOption = None,
) -> None:
    """Publish a CSV or JSON Lines file, or --watch a folder for nightly drops.

    CSV: the header row names the fields, dotted for nested ones (person.local_id).
    An empty cell is an absent field. List fields (needs, needs_observed) hold
    their items in one cell, separated by ';'. JSON Lines: one event per line, as
    the HTTP API takes it. A record without agency gets --agency.
    Refused records are listed in FILE.rejects.jsonl and dead-lettered.
    A re-run publishes nothing twice.

    --watch DIR publishes each complete file once, then moves it to DIR/done, or
    to DIR/failed with its rejects. Files still being written are skipped: names
    starting with '.' or ending in .part or .tmp, and files whose size changed
    since the last poll. Ctrl-C or SIGTERM stops after the current chunk.

    Exit codes: 0 every record accepted; 1 some refused; 2 usage or configuration
    error, or an unreadable file; 3 the broker did not acknowledge (run it again:
    what was accepted is not published twice).
    """
    if (file is None) == (watch is None):
        fail("give either a FILE or --watch DIR")
    if watch is not None:
        _watch(
            watch, kind=kind, agency=agency, interval=interval, config=config, bootstrap=bootstrap
        )
        return
    assert file is not None  # reason: checked just above; mypy cannot follow the pair
    raise typer.Exit(_publish_one(file, kind, agency, config, bootstrap))


def _publish_one(
    file: Path, kind: EventKind, agency: str, config: Path | None, bootstrap: str | None
) -> int:
    from connectors.files import FileDropError, publish_file  # noqa: PLC0415

    started = time.monotonic()
    with (
        connected_ingest(config, bootstrap) as ingest,
        stop_on_signals() as stop,
        _progress(file) as progress,
    ):
        try:
            report = publish_file(file, kind, agency, ingest, progress=progress, stop=stop)
        except FileDropError as exc:
            fail(str(exc))
    seconds = time.monotonic() - started
    handled = report.published + report.repeats + report.rejected
    console.print(
        f"{escape(file.name)}: {report.published} published, {report.repeats} repeats "
        f"(accepted earlier), {report.rejected} rejected; "
        f"{handled} records in {seconds:.1f}s ({handled / max(seconds, 1e-9):.0f}/s)"
    )
    if report.rejected:
        console.print(f"rejected records are listed in {escape(str(report.rejects))}")
    if not report.complete:
        fail(
            f"{report.stopped}; run it again: what was accepted is not published twice",
            EXIT_UNAVAILABLE,
        )
    return EXIT_REJECTED if report.rejected else 0


@contextmanager
def _progress(file: Path) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over the file's bytes, on a terminal only."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[records]} records"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task(escape(file.name), total=file.stat().st_size, records=0)

        def advance(done: int, records: int) -> None:
            progress.update(task, completed=done, records=records)

        yield advance


def _watch(
    folder: Path,
    *,
    kind: EventKind,
    agency: str,
    interval: float,
    config: Path | None,
    bootstrap: str | None,
) -> None:
    from connectors.filewatch import FolderWatch, Handled  # noqa: PLC0415

    def say(handled: Handled) -> None:
        report = handled.report
        where = f" -> {handled.moved_to}" if handled.moved_to else " (left to try again)"
        what = handled.unreadable or (
            f"{report.published} published, {report.repeats} repeats, {report.rejected} rejected"
        )
        console.print(f"{escape(report.path.name)}: {escape(what)}{escape(where)}")

    with connected_ingest(config, bootstrap) as ingest, stop_on_signals() as stop:
        console.print(f"watching {escape(str(folder))} every {interval:g}s; Ctrl-C stops")
        FolderWatch(folder, kind, agency, ingest, on_handled=say).run(stop, interval)
    console.print("stopped")
