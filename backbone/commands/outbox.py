"""``backbone outbox relay``: publish an agency's outbox table through the shared ingest."""

from __future__ import annotations

from typing import Annotated

import typer

from backbone.commands import connecting
from backbone.commands.connecting import AgencyOption, BootstrapOption, ConfigOption

app = typer.Typer(
    help="The database outbox: events an agency's system writes to a table of its own.",
    no_args_is_help=True,
)


@app.command()
def relay(
    *,
    db: Annotated[
        str, typer.Option(help="SQLAlchemy URL of the agency's database.", show_default=False)
    ],
    table: Annotated[str, typer.Option(help="The outbox table (schema.table allowed).")],
    agency: AgencyOption,
    once: Annotated[
        bool, typer.Option("--once", help="Stop when no row is left unpublished.")
    ] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between polls of an empty outbox.", min=0.01)
    ] = 5.0,
    batch: Annotated[int, typer.Option(help="Rows read and marked at a time.", min=1)] = 500,
    bootstrap: BootstrapOption = None,
    config: ConfigOption = None,
) -> None:
    """Publish an outbox table's rows in id order, marking each once the broker has it.

    The table: id (integer, increasing: the order); kind (an event kind, e.g.
    contact); payload (the event as JSON text, as the HTTP API takes it);
    published_at (nullable timestamp: NULL until published, then the UTC time);
    optionally error (nullable text: why the backbone refused the row).

    A refused row is dead-lettered and marked with its error, so that it never
    blocks the rows after it. While the broker is unavailable, the relay backs
    off and retries from the first unpublished row, so order is kept. Ctrl-C or
    SIGTERM stops after the current batch. Run one relay per table.

    Exit codes: 0 done, or stopped; 1 (--once) some rows were refused; 2 usage
    or configuration error, or a table without the columns above; 3 (--once)
    the broker or the database stayed unavailable.
    """
    from connectors.outbox import OutboxError, OutboxRelay, outbox_engine, reflect_outbox  # noqa: PLC0415

    try:
        engine = outbox_engine(db)
    except OutboxError as exc:
        connecting.fail(str(exc))
    try:
        try:
            outbox = reflect_outbox(engine, table)
        except OutboxError as exc:
            connecting.fail(str(exc))
        with (
            connecting.connected_ingest(config, bootstrap) as ingest,
            connecting.stop_on_signals() as stop,
        ):
            relayer = OutboxRelay(engine, outbox, ingest, agency=agency, batch=batch)
            totals = relayer.run(stop, once=once, interval=interval)
    finally:
        engine.dispose()
    connecting.console.print(
        f"{totals.published} published, {totals.repeats} repeats (accepted earlier), "
        f"{totals.refused} refused (marked with their error)"
    )
    if totals.gave_up:
        connecting.fail(
            "rows are left unpublished: the broker or the database is unavailable",
            connecting.EXIT_UNAVAILABLE,
        )
    raise typer.Exit(connecting.EXIT_REJECTED if once and totals.refused else 0)
