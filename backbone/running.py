"""The run file: how other commands find the backbone ``backbone up`` is running.

The embedded broker listens on a free port chosen at start, so ``backbone publish`` or
``backbone outbox relay`` in the same working folder read it from here. It is written once
everything is up and removed when ``backbone up`` stops.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from backbone.settings import Settings
from schemas.errors import ConfigError

RUN_FILE = "run.json"


@dataclass(frozen=True)
class Running:
    """What a running ``backbone up`` offers."""

    pid: int
    bootstrap: list[str]
    http: str


def write(data_dir: Path, running: Running) -> Path:
    """Publish ``running`` in ``data_dir`` (atomically: readers never see half a file)."""
    path = data_dir / RUN_FILE
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(running)))
    partial.replace(path)
    return path


def remove(data_dir: Path) -> None:
    """Withdraw the run file, if it is ours."""
    path = data_dir / RUN_FILE
    found = read(data_dir)
    if found is not None and found.pid == os.getpid():
        path.unlink(missing_ok=True)


def read(data_dir: Path) -> Running | None:
    """The backbone running from ``data_dir``, if its process is still alive."""
    try:
        found = Running(**json.loads((data_dir / RUN_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(found.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return found
    return found


def bootstrap_servers(settings: Settings) -> list[str]:
    """The configured Kafka, else the embedded broker of the backbone running here."""
    if not settings.kafka.embedded:
        return settings.kafka.bootstrap_servers
    found = read(settings.data_dir)
    if found is None:
        raise ConfigError(
            f"no Kafka is configured and no backbone is running from {settings.data_dir}: "
            "start `backbone up` here, or pass --bootstrap HOST:PORT"
        )
    return found.bootstrap
