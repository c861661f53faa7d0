"""Every store test runs once on SQLite and once on PostgreSQL, through ``database_url``
(from the root conftest)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.store import Store


@pytest.fixture
def unreachable_url(backend: str, tmp_path: Path) -> str:
    """A URL on ``backend`` that no database answers: a folder, or a port nobody listens on."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/backbone"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store opened (and so migrated) on a new database."""
    with Store.open(database_url) as opened:
        yield opened
