"""Every benchmark runs in its --quick mode: a smoke test that they work, never a timing test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.kafka
def test_ingest_benchmark_runs_quick() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for path in ("bare kafka-python producer", "HTTP batch", "file drop", "outbox relay"):
        assert path in result.stdout


def test_identity_benchmark_runs_quick() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.identity", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("link", "dedup", "hard", "baseline"):
        assert name in result.stdout
