"""How the store reaches its databases: URLs, SQLite's settings and transactions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from streams.store import Store, StoreError, create_engine
from streams.store.engine import POSTGRES_CONNECT_TIMEOUT_S, SQLITE_BUSY_TIMEOUT_MS


def test_postgresql_urls_get_psycopg_and_a_connect_timeout() -> None:
    engine = create_engine("postgresql://backbone:s3cret@db.example:5433/backbone")

    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.query["connect_timeout"] == str(POSTGRES_CONNECT_TIMEOUT_S)
    assert engine.url.password == "s3cret"


def test_a_connect_timeout_in_the_url_is_kept() -> None:
    engine = create_engine("postgresql://db.example/backbone?connect_timeout=30")

    assert engine.url.query["connect_timeout"] == "30"


@pytest.mark.parametrize("url", ["mysql://db.example/backbone", "not a url"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        create_engine(url)


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'backbone.db'}")
    try:
        with engine.connect() as connection:
            settings = [
                connection.execute(text(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
    finally:
        engine.dispose()

    assert settings == ["wal", 1, SQLITE_BUSY_TIMEOUT_MS]
    assert (tmp_path / "a" / "b" / "backbone.db").is_file()


def test_a_failed_transaction_undoes_its_ddl(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with pytest.raises(RuntimeError, match="step failed"):
            create_a_table_then_fail(engine)
        assert "half_done" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def create_a_table_then_fail(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE half_done (id INTEGER)"))
        raise RuntimeError("a migration step failed")


def test_the_default_store_is_a_file_under_dot_backbone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    with Store.open() as store:
        assert store.ping()

    assert (tmp_path / ".backbone" / "backbone.db").is_file()
