"""``backbone dlq``: inspect the dead letters, and replay them after a fix."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from backbone import running
from backbone.commands.connecting import BootstrapOption, ConfigOption
from backbone.runtime import ingest_for
from backbone.settings import Settings, load_settings
from connectors.deadletters import StoredLetter, read_letters, replay
from schemas.errors import BackboneError
from streams.store import Store

app = typer.Typer(help="Dead letters: what failed, where, and why; replay after a fix.")
console = Console()
errors = Console(stderr=True)

ConnectorOption = Annotated[
    str | None, typer.Option(help="Only letters from this connector (http, file, journal, ...).")
]


def _bootstrap(settings: Settings, bootstrap: str | None) -> list[str]:
    return [bootstrap] if bootstrap else running.bootstrap_servers(settings)


def _letters(settings: Settings, brokers: list[str], connector: str | None) -> list[StoredLetter]:
    letters = read_letters(brokers, settings.kafka.topics.dead_letters)
    return [stored for stored in letters if connector in {None, stored.letter.connector}]


@app.command("list")
def list_letters(
    config: ConfigOption = None,
    bootstrap: BootstrapOption = None,
    connector: ConnectorOption = None,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest last.")] = 100,
) -> None:
    """Every dead letter: where it came from, why it failed, and how often."""
    try:
        settings = load_settings(config)
        letters = _letters(settings, _bootstrap(settings, bootstrap), connector)
    except BackboneError as exc:
        errors.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    table = Table("letter", "source", "connector", "error", "attempts", "first failure", "bytes")
    for stored in letters[-limit:]:
        letter = stored.letter
        where = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
        table.add_row(
            stored.ref,
            where,
            letter.connector,
            f"{letter.error_class}: {letter.error_message}",
            str(letter.attempts),
            letter.first_failure.isoformat(timespec="seconds") if letter.first_failure else "",
            str(len(stored.value)),
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@app.command("replay")
def replay_letters(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Letters to replay, as PARTITION:OFFSET.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Replay every letter shown.")] = False,
    config: ConfigOption = None,
    bootstrap: BootstrapOption = None,
    connector: ConnectorOption = None,
) -> None:
    """Publish letters again: agent letters to their topic, ingest letters through ingest."""
    if not refs and not every:
        errors.print("[red]name letters as PARTITION:OFFSET, or pass --all[/]")
        raise typer.Exit(2)
    try:
        settings = load_settings(config)
        brokers = _bootstrap(settings, bootstrap)
        letters = _letters(settings, brokers, connector)
        chosen = letters if every else [s for s in letters if s.ref in set(refs or [])]
        missing = set(refs or []) - {stored.ref for stored in letters}
        if missing:
            errors.print(f"[red]no such letter: {', '.join(sorted(missing))}[/]")
            raise typer.Exit(2)
        with Store.open(settings.database_url) as store:
            ingest = ingest_for(settings, store, brokers)
            try:
                results = replay(chosen, ingest, ingest.sink, settings.kafka.topics)
            finally:
                ingest.close()
    except BackboneError as exc:
        errors.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    failed = 0
    for result in results:
        ok = result.outcome.accepted
        failed += not ok
        console.print(f"{result.letter.ref}: {result.outcome.status}")
    console.print(f"replayed {len(results) - failed} of {len(results)}")
    raise typer.Exit(1 if failed else 0)
