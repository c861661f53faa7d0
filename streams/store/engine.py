"""Engines for the store's database URLs, set up alike wherever one is made.

SQLite serves a single machine without a server; PostgreSQL serves production. The
migrations and the store both get their engine here, so they see the same settings.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from streams.store.errors import StoreError

#: A file under ./.backbone/, so that one machine needs no database server.
DEFAULT_URL = "sqlite:///.backbone/backbone.db"

#: How long a SQLite writer waits for another writer before failing.
SQLITE_BUSY_TIMEOUT_MS = 5_000

#: How long connecting to PostgreSQL may take, so that a health check cannot hang.
POSTGRES_CONNECT_TIMEOUT_S = 5

#: Each supported backend's INSERT, which alone knows ``ON CONFLICT``.
_INSERTS: dict[str, Callable[[Any], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def create_engine(url: str | URL) -> Engine:
    """An engine for ``url``, a SQLite or PostgreSQL database URL.

    Raises :class:`StoreError` for a malformed URL, another backend or a missing driver.
    """
    resolved = _resolve(url)
    if resolved.get_backend_name() == "sqlite" and resolved.database not in (None, "", ":memory:"):
        _create_parent_folder(Path(str(resolved.database)))
    try:
        engine = sqlalchemy.create_engine(
            resolved,
            # Parameters carry people's data: keep them out of errors and logs.
            hide_parameters=True,
            # A PostgreSQL server may restart under a long-running backbone.
            pool_pre_ping=resolved.get_backend_name() == "postgresql",
        )
    except (ArgumentError, ImportError) as error:
        raise StoreError(f"cannot make an engine for {resolved!r}: {error}") from error
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
    return engine


def _resolve(url: str | URL) -> URL:
    """``url`` as the store connects to it.

    ``postgresql://`` gets the psycopg 3 driver (SQLAlchemy would pick psycopg2), and
    PostgreSQL a connect timeout unless the URL sets one.
    """
    try:
        resolved = make_url(url)
    except ArgumentError as error:
        raise StoreError(f"not a database URL: {error}") from error
    backend = resolved.get_backend_name()
    if backend not in _INSERTS:
        raise StoreError(f"the store supports {', '.join(_INSERTS)}, not {backend}")
    if resolved.drivername == "postgresql":
        resolved = resolved.set(drivername="postgresql+psycopg")
    if backend == "postgresql" and "connect_timeout" not in resolved.query:
        resolved = resolved.update_query_dict({"connect_timeout": str(POSTGRES_CONNECT_TIMEOUT_S)})
    return resolved


def insert_for(engine: Engine) -> Callable[[Any], sqlite.Insert | postgresql.Insert]:
    """The INSERT construct of ``engine``'s dialect, for ``ON CONFLICT`` clauses."""
    return _INSERTS[engine.dialect.name]


def _create_parent_folder(database: Path) -> None:
    """SQLite creates a missing database file but not its folder."""
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create the folder of SQLite database {database}") from error


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    """Set up each new SQLite connection.

    sqlite3 on Python 3.11 opens transactions itself, but only before DML, so DDL (the
    migrations) would run outside any transaction: it is told to leave that to SQLAlchemy,
    which emits BEGIN in :func:`_begin_sqlite`. WAL lets readers run beside the writer,
    the busy timeout makes a second writer wait instead of failing, and foreign keys are
    off in SQLite unless asked for on every connection.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")
