"""Every benchmark runs in its --quick mode: a smoke test that they work, never a timing test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        pytest.param(
            "bench.ingest",
            ("bare kafka-python producer", "HTTP batch", "file drop", "outbox relay"),
            marks=pytest.mark.kafka,
        ),
        ("bench.identity", ("link", "dedup", "hard", "baseline")),
    ],
)
def test_benchmark_runs_quick(module: str, expected: tuple[str, ...]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in expected:
        assert name in result.stdout
