"""The ``backbone`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from backbone.commands import dlq, identity, outbox, publish, rules
from backbone.commands.connecting import ConfigOption
from backbone.settings import Settings, load_settings
from schemas.catalog import Catalog
from schemas.errors import BackboneError
from schemas.types import SchemaRegistry

app = typer.Typer(
    name="backbone",
    help="Relational Backbone: event-driven integration for relational public services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
schemas_app = typer.Typer(help="The Avro contracts and the schema registry.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.command()(publish.publish)
app.add_typer(outbox.app, name="outbox")
app.add_typer(dlq.app, name="dlq")
app.add_typer(identity.app, name="identity")
app.add_typer(rules.app, name="rules")

console = Console()
errors = Console(stderr=True)

SchemasOption = Annotated[
    Path | None,
    typer.Option("--schemas", help="Folder of .avsc contracts [default: the installed ones]."),
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
    from backbone.up import up as run_up  # noqa: PLC0415 - keeps `backbone --help` fast

    kafka = None
    if bootstrap:
        base = _settings(config)
        kafka = base.kafka.model_copy(update={"bootstrap_servers": [bootstrap]})
    settings = _settings(config, http_port=port, db_url=db, data_dir=data_dir, kafka=kafka)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        code = run_up(settings, console)
    except BackboneError as exc:
        errors.print(f"[red]backbone up failed: {exc}[/]")
        raise typer.Exit(1) from exc
    raise typer.Exit(code)


@schemas_app.command("check")
def schemas_check(
    config: ConfigOption = None, registry: RegistryOption = None, schemas: SchemasOption = None
) -> None:
    """Check every schema against its registered versions (BACKWARD_TRANSITIVE)."""
    _checked(config, registry, schemas)
    console.print("[green]every schema is compatible with its registered versions[/]")


@schemas_app.command("register")
def schemas_register(
    config: ConfigOption = None, registry: RegistryOption = None, schemas: SchemasOption = None
) -> None:
    """Register the current schemas as new versions, after checking them."""
    from schemas.compatibility import register_all  # noqa: PLC0415

    catalog, target = _checked(config, registry, schemas)
    for subject, schema_id in register_all(catalog, target).items():
        console.print(f"{subject}: id {schema_id}")


def _checked(
    config: Path | None, registry: str | None, schemas: Path | None
) -> tuple[Catalog, SchemaRegistry]:
    """The contracts and the registry, once every contract is compatible; else exit 1 (2 on
    an error reaching the registry or reading the contracts), naming each field."""
    from backbone.runtime import schema_registry  # noqa: PLC0415
    from schemas.compatibility import check  # noqa: PLC0415

    settings = _registry_settings(config, registry)
    try:
        catalog, target = _catalog(schemas), schema_registry(settings)
        problems = check(catalog, target)
    except BackboneError as exc:
        errors.print(f"[red]schemas check failed: {exc}[/]")
        raise typer.Exit(2) from exc
    for problem in problems:
        errors.print(f"[red]incompatible[/] {problem}")
    if problems:
        raise typer.Exit(1)
    return catalog, target


def _catalog(folder: Path | None) -> Catalog:
    """The installed contracts (cached), or a folder the user names, read afresh."""
    return Catalog(folder) if folder else Catalog.load()


def _registry_settings(config: Path | None, registry: str | None) -> Settings:
    settings = _settings(config)
    if registry is None:
        return settings
    chosen = settings.schema_registry.model_copy(update={"url": registry})
    return _settings(config, schema_registry=chosen)


def main() -> None:
    """Console-script entry point."""
    app()
