"""The outbox relay: publishes the rows an agency's system writes to an outbox table.

Systems that can only write to their own database insert each event into an outbox table
in the same transaction as the change it describes; the relay polls the table through
SQLAlchemy (so any database it supports), publishes the rows in order through the shared
ingest, and marks a row published only once the broker has acknowledged it.

The table (reflected, so its other columns and its types are the agency's business):

- ``id``: integer, increasing; the order rows are published in.
- ``kind``: an event kind (``referral``, ``contact``, ``volunteer-action``, ``consent``,
  ``handoff-update``, ``erasure``).
- ``payload``: the event as JSON text, as the HTTP API takes it (a JSON or binary column
  does too).
- ``published_at``: a nullable timestamp; NULL until the row is published. The relay
  writes UTC (a column without a time zone gets UTC wall-clock time).
- ``error`` (optional): nullable text; why the backbone refused the row.

Each batch reads up to N unpublished rows by ``id`` and hands each run of consecutive rows
of one kind to the ingest. Rows accepted, or repeats of rows accepted before, are marked
published (one transaction per batch). A refused row (invalid, conflict, forbidden, or of
an unknown kind) is dead-lettered by the ingest (an unknown kind with source
``outbox:<table>``) and marked published with its ``error``, so that one bad row never
blocks the queue.
If the broker does not acknowledge a row, nothing from it on is marked: the relay backs
off and retries from that row, so order is kept.

A relay killed between publishing and marking re-reads the unmarked rows when it restarts:
the ledger makes them repeats (not published again); killed between the broker's
acknowledgement and the ledger's write, it publishes them again, and downstream drops the
copy by event id. Run one relay per table: two would publish the same rows.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby, takewhile
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    Row,
    Table,
    bindparam,
    make_url,
    select,
    update,
)
from sqlalchemy import create_engine as sqlalchemy_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchTableError, SQLAlchemyError

from connectors.errors import ConnectorError, FieldError
from connectors.ingest import Ingest, Outcome, Status, Submission
from connectors.refusals import MAX_DESCRIPTION, describe_refusal
from schemas.errors import BackboneError
from schemas.topics import EventKind

log = logging.getLogger(__name__)

#: A row as the relay reads it: id, kind, payload.
_OutboxRow = Row[Any, Any, Any]

#: The ``connector`` label of metrics and dead letters for events from an outbox.
CONNECTOR = "outbox"
REQUIRED_COLUMNS = ("id", "kind", "payload", "published_at")
ERROR_COLUMN = "error"
CONTRACT = (
    "id (integer, increasing: the order), kind (an event kind, e.g. contact), payload "
    "(the event as JSON text), published_at (nullable timestamp: NULL until published), "
    "and optionally error (nullable text: why a row was refused)"
)

_BACKOFF_START = 0.5
_BACKOFF_CAP = 30.0


class OutboxError(ConnectorError):
    """The outbox cannot be used: no such table, a missing column, a bad database URL."""


@dataclass(frozen=True)
class BatchResult:
    """What one batch did; ``blocked`` if it stopped at a row it could not publish."""

    read: int = 0
    published: int = 0
    repeats: int = 0
    refused: int = 0
    blocked: bool = False


@dataclass
class RelayTotals:
    """What a run of the relay did, over all its batches."""

    published: int = 0
    repeats: int = 0
    refused: int = 0
    #: Set when ``--once`` gave up on a broker or database that stayed unavailable.
    gave_up: bool = False

    def add(self, batch: BatchResult) -> None:
        self.published += batch.published
        self.repeats += batch.repeats
        self.refused += batch.refused


def outbox_engine(url: str) -> Engine:
    """An engine for the agency's database; ``postgresql://`` uses psycopg 3, as installed."""
    try:
        resolved = make_url(url)
        if resolved.drivername == "postgresql":
            resolved = resolved.set(drivername="postgresql+psycopg")
        # Payloads are personal data: keep them out of errors and logs.
        return sqlalchemy_engine(resolved, hide_parameters=True, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise OutboxError(f"cannot connect to the outbox database: {exc}") from exc


def reflect_outbox(engine: Engine, name: str) -> Table:
    """The outbox table ``name`` (``schema.table`` allowed), checked against the contract."""
    schema, _, table_name = name.rpartition(".")
    where = engine.url.render_as_string(hide_password=True)
    try:
        table = Table(table_name, MetaData(), schema=schema or None, autoload_with=engine)
    except NoSuchTableError as exc:
        raise OutboxError(f"no outbox table {name!r} in {where}") from exc
    except SQLAlchemyError as exc:
        raise OutboxError(f"cannot read the outbox table {name!r} in {where}: {exc}") from exc
    missing = [column for column in REQUIRED_COLUMNS if column not in table.c]
    if missing:
        raise OutboxError(
            f"outbox table {name!r} has no column {', '.join(missing)}; it needs {CONTRACT}"
        )
    return table


class OutboxRelay:
    """Publishes one agency's outbox ``table`` (see :func:`reflect_outbox`), in ``id``
    order, ``batch`` rows at a time."""

    def __init__(
        self, engine: Engine, table: Table, ingest: Ingest, *, agency: str, batch: int = 500
    ) -> None:
        self._engine = engine
        self._table = table
        self._ingest = ingest
        self._agency = agency
        self._batch = batch
        self._error: Column[Any] | None = self._table.c.get(ERROR_COLUMN)
        length = getattr(self._error.type, "length", None) if self._error is not None else None
        self._error_length: int = length or MAX_DESCRIPTION

    def run(
        self, stop: threading.Event, *, once: bool, interval: float, retries: int = 6
    ) -> RelayTotals:
        """Relay until ``stop`` is set; with ``once``, until no row is left unpublished.

        While rows cannot be published, it backs off (doubling, to 30 s) and retries; with
        ``once`` it gives up after ``retries`` attempts in a row (``gave_up``).
        """
        totals = RelayTotals()
        delay, failures = _BACKOFF_START, 0
        while not stop.is_set():
            result = self.relay_batch()
            totals.add(result)
            if result.blocked:
                failures += 1
                if once and failures >= retries:
                    totals.gave_up = True
                    break
                stop.wait(delay)
                delay = min(delay * 2, _BACKOFF_CAP)
                continue
            delay, failures = _BACKOFF_START, 0
            if result.read < self._batch:
                if once:
                    break
                stop.wait(interval)
        return totals

    def relay_batch(self) -> BatchResult:
        """Read, publish and mark up to one batch of rows, in order."""
        try:
            rows = self._unpublished()
        except SQLAlchemyError as exc:
            log.error("cannot read the outbox: %s", exc)
            return BatchResult(blocked=True)
        marks: list[dict[str, Any]] = []
        tally: Counter[Status] = Counter()
        blocked = False
        for kind_value, run in groupby(rows, key=lambda row: row.kind):
            group = list(run)
            answered = list(
                takewhile(
                    lambda outcome: outcome.status != Status.UNAVAILABLE,
                    self._publish(kind_value, group),
                )
            )
            for row, outcome in zip(group, answered, strict=False):
                tally[outcome.status] += 1
                marks.append(self._mark_values(row, outcome))
            if len(answered) < len(group):
                blocked = True  # nothing after an unpublished row is marked: order is kept
                break
        try:
            self._mark(marks)
        except SQLAlchemyError as exc:
            log.error("cannot mark %d outbox rows published: %s", len(marks), exc)
            return BatchResult(read=len(rows), blocked=True)
        accepted, repeats = tally.pop(Status.ACCEPTED, 0), tally.pop(Status.REPEAT, 0)
        return BatchResult(len(rows), accepted, repeats, sum(tally.values()), blocked)

    def _unpublished(self) -> list[_OutboxRow]:
        table = self._table
        statement = (
            select(table.c.id, table.c.kind, table.c.payload)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.id)
            .limit(self._batch)
        )
        with self._engine.connect() as connection:
            return list(connection.execute(statement).all())

    def _publish(self, kind_value: Any, rows: list[_OutboxRow]) -> list[Outcome]:
        """The ingest's answers for ``rows``; fewer answers than rows if it failed."""
        try:
            kind = EventKind(kind_value)
        except ValueError:
            unknown = FieldError("kind", "not an event kind")
            for row in rows:
                self._ingest.dead_letter(
                    Submission(*_body_and_raw(row.payload), position=row.id),
                    source=f"outbox:{self._table.name}",
                    agency=self._agency,
                    connector=CONNECTOR,
                    why=unknown,
                )
            return [Outcome(Status.INVALID, None, (unknown,)) for _ in rows]
        submissions = [Submission(*_body_and_raw(row.payload), position=row.id) for row in rows]
        try:
            return self._ingest.accept(kind, submissions, agency=self._agency, connector=CONNECTOR)
        except BackboneError as exc:
            log.error("outbox rows from id %s not published: %s", rows[0].id, exc)
            return []

    def _mark_values(self, row: _OutboxRow, outcome: Outcome) -> dict[str, Any]:
        values: dict[str, Any] = {"row_id": row.id, "at": self._now()}
        if self._error is not None:
            why = None if outcome.accepted else describe_refusal(outcome, self._error_length)
            values["why"] = why
        return values

    def _now(self) -> datetime | str:
        """Now in UTC, as the ``published_at`` column takes it."""
        now = datetime.now(UTC)
        kind = self._table.c.published_at.type
        if not isinstance(kind, DateTime):
            return now.isoformat()  # a text column: ISO-8601 with its offset
        return now if kind.timezone else now.replace(tzinfo=None)

    def _mark(self, marks: list[dict[str, Any]]) -> None:
        if not marks:
            return
        table = self._table
        changes: dict[str, Any] = {"published_at": bindparam("at")}
        if self._error is not None:
            changes[ERROR_COLUMN] = bindparam("why")
        statement = update(table).where(table.c.id == bindparam("row_id")).values(changes)
        with self._engine.begin() as connection:
            connection.execute(statement, marks)


def _body_and_raw(payload: object) -> tuple[bytes | str | dict[str, Any], bytes]:
    """The payload as the ingest takes it, and its bytes for a dead letter."""
    if isinstance(payload, bytes):
        return payload, payload
    if isinstance(payload, str):
        return payload, payload.encode()
    if payload is None:
        return b"", b""
    text = json.dumps(payload, separators=(",", ":"))  # a JSON column, already parsed
    return text, text.encode()
