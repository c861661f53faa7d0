"""The ``backbone`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from backbone.settings import Settings, load_settings
from schemas.errors import BackboneError

app = typer.Typer(
    name="backbone",
    help="Relational Backbone: event-driven integration for relational public services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
schemas_app = typer.Typer(help="The Avro contracts and the schema registry.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")

console = Console()
errors = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="YAML configuration file (or BACKBONE_CONFIG).", show_default=False
    ),
]
RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry", help="Confluent-compatible schema registry URL (default: embedded)."
    ),
]


def _settings(config: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, **overrides)
    except BackboneError as exc:
        errors.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


@app.command()
def up(
    config: ConfigOption = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Kafka bootstrap HOST:PORT; without it an embedded broker starts."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port [default: 8080].")] = None,
    db: Annotated[
        str | None, typer.Option(help="SQL store URL [default: SQLite in .backbone/].")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Working folder [default: .backbone].")
    ] = None,
) -> None:
    """Start the broker (embedded unless --bootstrap), the worker, the HTTP API and the store."""
    from backbone.runtime import assemble  # noqa: PLC0415 - keeps `backbone --help` fast
    from backbone.up import run  # noqa: PLC0415

    kafka = None
    if bootstrap:
        base = _settings(config)
        kafka = base.kafka.model_copy(update={"bootstrap_servers": [bootstrap]})
    settings = _settings(config, http_port=port, db_url=db, data_dir=data_dir, kafka=kafka)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        backbone = assemble(settings, log_dir=settings.data_dir)
    except BackboneError as exc:
        errors.print(f"[red]backbone up failed: {exc}[/]")
        raise typer.Exit(1) from exc
    raise typer.Exit(run(backbone, console))


@schemas_app.command("check")
def schemas_check(config: ConfigOption = None, registry: RegistryOption = None) -> None:
    """Check every schema against its registered versions (BACKWARD_TRANSITIVE)."""
    from backbone.runtime import schema_registry  # noqa: PLC0415
    from schemas.catalog import Catalog  # noqa: PLC0415
    from schemas.compatibility import check  # noqa: PLC0415

    settings = _registry_settings(config, registry)
    try:
        problems = check(Catalog.load(), schema_registry(settings))
    except BackboneError as exc:
        errors.print(f"[red]schemas check failed: {exc}[/]")
        raise typer.Exit(2) from exc
    for problem in problems:
        errors.print(f"[red]incompatible[/] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print("[green]every schema is compatible with its registered versions[/]")


@schemas_app.command("register")
def schemas_register(config: ConfigOption = None, registry: RegistryOption = None) -> None:
    """Register the current schemas as new versions, after checking them."""
    from backbone.runtime import schema_registry  # noqa: PLC0415
    from schemas.catalog import Catalog  # noqa: PLC0415
    from schemas.compatibility import check, register_all  # noqa: PLC0415

    settings = _registry_settings(config, registry)
    catalog, target = Catalog.load(), schema_registry(settings)
    problems = check(catalog, target)
    for problem in problems:
        errors.print(f"[red]incompatible[/] {problem}")
    if problems:
        raise typer.Exit(1)
    for subject, schema_id in register_all(catalog, target).items():
        console.print(f"{subject}: id {schema_id}")


def _registry_settings(config: Path | None, registry: str | None) -> Settings:
    settings = _settings(config)
    if registry is None:
        return settings
    chosen = settings.schema_registry.model_copy(update={"url": registry})
    return _settings(config, schema_registry=chosen)


def main() -> None:
    """Console-script entry point."""
    app()
