"""Every store test runs once on SQLite and once on PostgreSQL, through ``database_url``.

``postgresql_url`` comes from the ``tests.fixtures.postgres`` plugin, which the root
conftest loads.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend the test runs on."""
    name: str = request.param
    return name


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty database on ``backend``, in a folder SQLite must create."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'backbone.db'}"
    url: str = request.getfixturevalue("postgresql_url")
    return url


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
