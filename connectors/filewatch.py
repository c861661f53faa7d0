"""Watching a folder for nightly drops: each complete file is published once, then moved.

A file is picked up only when it is complete: it is a ``.csv``, ``.jsonl`` or ``.ndjson``
file whose name does not start with ``.`` nor end with ``.part`` or ``.tmp`` (write under
such a name, then rename: a rename is atomic), and its size and modification time are the
same at two polls in a row (for writers that cannot rename).

Once published, it moves to ``done/`` when every record was accepted, or to ``failed/``
(with its rejects file) when some were refused or the file could not be read. A file the
broker did not fully acknowledge stays where it is and is tried again at the next poll; the
ledger makes the records already accepted repeats. A name already taken in ``done/`` or
``failed/`` (the same export name every night) gets the time of the move added.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connectors.files import (
    CHUNK,
    FORMATS,
    REJECTS_SUFFIX,
    FileDropError,
    FileReport,
    publish_file,
    rejects_path,
)
from connectors.ingest import Ingest
from schemas.topics import EventKind

log = logging.getLogger(__name__)

DONE = "done"
FAILED = "failed"
#: Names of files still being written.
PARTIAL_PREFIXES = (".",)
PARTIAL_SUFFIXES = (".part", ".tmp")


@dataclass(frozen=True)
class Handled:
    """One file the watcher took: where it went (None: left to try again) and why."""

    report: FileReport
    moved_to: Path | None
    #: Why the file could not be read, if it could not.
    unreadable: str | None = None


@dataclass
class FolderWatch:
    """Publishes the complete files dropped in ``folder``, one poll at a time."""

    folder: Path
    kind: EventKind
    agency: str
    ingest: Ingest
    chunk: int = CHUNK
    on_handled: Callable[[Handled], None] | None = None
    _seen: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def run(self, stop: threading.Event, interval: float) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            self.poll(stop)
            stop.wait(interval)

    def poll(self, stop: threading.Event | None = None) -> list[Handled]:
        """Publish the files unchanged since the last poll, oldest first."""
        current = self._candidates()
        ready = [path for path, signature in current.items() if self._seen.get(path) == signature]
        self._seen = current
        handled: list[Handled] = []
        for path in sorted(ready, key=lambda path: (current[path][1], path.name)):
            if stop and stop.is_set():
                break
            try:
                done = self._handle(path, stop)
            except OSError:
                log.exception("could not publish or move %s; trying again at the next poll", path)
                continue
            self._seen.pop(path, None)
            handled.append(done)
            if self.on_handled:
                self.on_handled(done)
        return handled

    def _candidates(self) -> dict[Path, tuple[int, int]]:
        """Each complete-looking file in the folder, with its size and modification time."""
        found: dict[Path, tuple[int, int]] = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if (
                    name.startswith(PARTIAL_PREFIXES)
                    or name.endswith((*PARTIAL_SUFFIXES, REJECTS_SUFFIX))
                    or Path(name).suffix.lower() not in FORMATS
                    or not entry.is_file()
                ):
                    continue
                stat = entry.stat()
                found[Path(entry.path)] = (stat.st_size, stat.st_mtime_ns)
        return found

    def _handle(self, path: Path, stop: threading.Event | None) -> Handled:
        try:
            report = publish_file(
                path, self.kind, self.agency, self.ingest, chunk=self.chunk, stop=stop
            )
        except FileDropError as exc:
            return Handled(FileReport(path), _move(path, self.folder / FAILED), str(exc))
        if not report.complete:
            log.warning("%s: %s; trying again at the next poll", path.name, report.stopped)
            return Handled(report, None)
        target = self.folder / (FAILED if report.rejected else DONE)
        return Handled(report, _move(path, target))


def _move(path: Path, folder: Path) -> Path:
    """Move ``path`` and its rejects file into ``folder``, never over an earlier file."""
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    path.replace(target)
    rejects = rejects_path(path)
    if rejects.exists():
        rejects.replace(rejects_path(target))
    return target
