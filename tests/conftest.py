"""Suite-wide fixtures: a real broker, throwaway databases, and leak checks.

Following faust's own suite, a test fails if it leaves threads running or changes the
process environment: both would make later tests depend on earlier ones.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.postgres", "tests.fixtures.up"]

_THREAD_GRACE = 5.0


def _threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.is_alive()}


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaks threads or environment variables."""
    threads_before = _threads()
    environ_before = dict(os.environ)
    yield
    deadline = time.monotonic() + _THREAD_GRACE
    leaked = _threads() - threads_before
    while leaked and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked = _threads() - threads_before
    changed = {
        key
        for key in set(environ_before) | set(os.environ)
        if environ_before.get(key) != os.environ.get(key)
    }
    # PYTEST_CURRENT_TEST is pytest's own bookkeeping.
    changed.discard("PYTEST_CURRENT_TEST")
    assert not leaked, f"test leaked threads: {sorted(thread.name for thread in leaked)}"
    assert not changed, f"test changed environment variables: {sorted(changed)}"


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
