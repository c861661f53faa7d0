"""The file drop: CSV and JSON Lines exports, published through the shared ingest.

Older agency systems can only export a file every night. Each record becomes one
:class:`~connectors.ingest.Submission` whose ``position`` is its line number in the file;
records go to :meth:`~connectors.ingest.Ingest.accept` in chunks, so memory stays flat
however long the file is, and a re-run publishes nothing twice (the ledger makes the
records already accepted repeats).

CSV (``.csv``): UTF-8 (a byte-order mark is allowed), quoted as spreadsheets write it. The
header row names the fields; a dotted header fills a nested field (``person.local_id``,
``place.place_id``). An empty cell means the field is absent. A list field of the kind's
contract (``needs``, ``needs_observed``) holds its items in one cell separated by ``;``
(``food;money``). Booleans are ``true``/``false``. Rows whose cells are all empty are
skipped; a value in a column without a header is refused as an unknown field. A record's
``raw`` (what its dead letter carries) is the row's own bytes as they were in the file,
every physical line of it, without the final line break and without the header.

JSON Lines (``.jsonl``, ``.ndjson``): one event per line, as the HTTP API takes it; blank
lines are skipped; ``raw`` is the line's bytes.

In both, a record without ``agency`` gets the publishing agency's id; one naming another
agency is refused (forbidden), as with every connector.

Refused records are listed in ``<file>.rejects.jsonl`` beside the file, one
``{"line": n, "status": "invalid|conflict|forbidden", "errors": [{"loc", "msg"}]}`` each
(never a field's value); a file that cannot be read adds ``"status": "unreadable"``. A stale
rejects file of an earlier run is removed when the file is published again.
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from types import UnionType
from typing import IO, Any, Union, get_args, get_origin

from connectors.errors import ConnectorError
from connectors.ingest import Ingest, Outcome, Status, Submission
from connectors.refusals import refusal_errors
from schemas.errors import BackboneError
from schemas.models import MODEL_OF_KIND
from schemas.topics import EventKind

#: The ``connector`` label of metrics and dead letters for events that came in a file.
CONNECTOR = "file"
#: Records per call to the ingest: one ledger round trip and one flush each.
CHUNK = 500
#: The suffixes the file drop reads, and how.
FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REJECTS_SUFFIX = ".rejects.jsonl"
#: What separates the items of a list field in a CSV cell.
LIST_SEPARATOR = ";"

_BOM = b"\xef\xbb\xbf"


class FileDropError(ConnectorError):
    """A file that cannot be read as a drop: unknown format, bad header, not UTF-8."""


@dataclass(frozen=True)
class Record:
    """One record of a file and how far into the file (in bytes) it ends."""

    submission: Submission
    end: int


@dataclass
class FileReport:
    """What became of one file's records."""

    path: Path
    published: int = 0
    repeats: int = 0
    rejected: int = 0
    #: Why publishing ended before the last record (None: every record was answered).
    stopped: str | None = None

    @property
    def complete(self) -> bool:
        """Whether every record was answered (accepted, a repeat, or refused)."""
        return self.stopped is None

    @property
    def rejects(self) -> Path:
        """Where refused records are listed (the file exists only if any were)."""
        return rejects_path(self.path)


def rejects_path(path: Path) -> Path:
    """``<file>.rejects.jsonl`` beside ``path``."""
    return path.with_name(path.name + REJECTS_SUFFIX)


def read_records(path: Path, kind: EventKind, agency: str) -> Generator[Record, None, None]:
    """The records of ``path`` as submissions of ``kind`` from ``agency``, in file order.

    Raises :class:`FileDropError` at once for a format it does not read, and while reading
    for a file it cannot read.
    """
    form = FORMATS.get(path.suffix.lower())
    if form is None:
        raise FileDropError(f"{path.name}: the file drop reads {', '.join(FORMATS)} files")
    return _csv_records(path, kind, agency) if form == "csv" else _jsonl_records(path, agency)


def publish_file(
    path: Path,
    kind: EventKind,
    agency: str,
    ingest: Ingest,
    *,
    chunk: int = CHUNK,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> FileReport:
    """Publish every record of ``path``; ``progress`` gets (bytes read, records read).

    Raises :class:`FileDropError` if the file cannot be read (after listing why in the
    rejects file); the chunks before the fault are published. Publishing stops early,
    with ``stopped`` saying why, when the broker does not acknowledge or ``stop`` is set.
    """
    report = FileReport(path)
    records = read_records(path, kind, agency)
    rejects = _Rejects(report.rejects)
    count = 0
    try:
        while not (stop and stop.is_set()):
            batch = _next_chunk(records, chunk, rejects)
            if not batch:
                return report
            count += len(batch)
            _publish_chunk(report, rejects, batch, ingest=ingest, kind=kind, agency=agency)
            if progress:
                progress(batch[-1].end, count)
            if report.stopped:
                return report
        report.stopped = "stopped before the end of the file"
        return report
    finally:
        records.close()
        rejects.close()


def _next_chunk(records: Iterator[Record], size: int, rejects: _Rejects) -> list[Record]:
    try:
        return list(islice(records, size))
    except FileDropError as exc:
        rejects.add(None, "unreadable", [{"loc": "(file)", "msg": str(exc)}])
        raise


def _publish_chunk(
    report: FileReport,
    rejects: _Rejects,
    batch: list[Record],
    *,
    ingest: Ingest,
    kind: EventKind,
    agency: str,
) -> None:
    items = [record.submission for record in batch]
    try:
        outcomes = ingest.accept(kind, items, agency=agency, connector=CONNECTOR)
    except BackboneError as exc:
        report.stopped = f"line {items[0].position} and after not published: {exc}"
        return
    for item, outcome in zip(items, outcomes, strict=True):
        if outcome.status == Status.UNAVAILABLE:
            report.stopped = (
                report.stopped or f"the broker did not acknowledge line {item.position}"
            )
        elif outcome.status == Status.REPEAT:
            report.repeats += 1
        elif outcome.status == Status.ACCEPTED:
            report.published += 1
        else:
            report.rejected += 1
            rejects.add(item.position, outcome.status.value, _errors(outcome))


def _errors(outcome: Outcome) -> list[dict[str, str]]:
    return [{"loc": error.loc, "msg": error.msg} for error in refusal_errors(outcome)]


class _Rejects:
    """The rejects file: removed if stale, created at the first refusal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        path.unlink(missing_ok=True)

    def add(self, line: int | None, status: str, errors: list[dict[str, str]]) -> None:
        if self._handle is None:
            self._handle = self.path.open("w", encoding="utf-8")
        entry = {"line": line, "status": status, "errors": errors}
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise FileDropError(f"cannot read {path}: {exc.strerror}") from exc


def _jsonl_records(path: Path, agency: str) -> Generator[Record, None, None]:
    with _open(path) as handle:
        end = 0
        for number, line in enumerate(handle, start=1):
            end += len(line)
            raw = (line.removeprefix(_BOM) if number == 1 else line).rstrip(b"\r\n")
            if raw.strip():
                yield Record(Submission(_with_agency(raw, agency), raw, number), end)


def _with_agency(raw: bytes, agency: str) -> bytes | dict[str, Any]:
    """The line, parsed and given ``agency`` if it has none; as it is otherwise."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw  # the ingest names it invalid JSON, without quoting it
    if isinstance(body, dict) and "agency" not in body:
        return {**body, "agency": agency}
    return raw


class _Lines:
    """The file's lines for ``csv.reader``, keeping the bytes of the record being read.

    ``csv.reader`` asks for one more line while a quoted cell spans lines, and never reads
    past the end of a record, so the lines taken since the last record are that record.
    """

    def __init__(self, handle: IO[bytes], name: str) -> None:
        self._handle = handle
        self._name = name
        self._pending: list[bytes] = []
        self.number = 0
        self.end = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self._handle.readline()
        if not line:
            raise StopIteration
        self.end += len(line)
        if self.number == 0:
            line = line.removeprefix(_BOM)
        self.number += 1
        self._pending.append(line)
        try:
            return line.decode()
        except UnicodeDecodeError:
            raise FileDropError(f"{self._name}, line {self.number}: not UTF-8") from None

    def take(self) -> tuple[int, bytes]:
        """The first line number and the bytes of the record just read."""
        first = self.number - len(self._pending) + 1
        raw = b"".join(self._pending).rstrip(b"\r\n")
        self._pending = []
        return first, raw


#: A header's field path (``("person", "local_id")``), or None for a column without a name.
_Path = tuple[str, ...] | None


def _csv_records(path: Path, kind: EventKind, agency: str) -> Generator[Record, None, None]:
    lists = _list_fields(kind)
    with _open(path) as handle:
        lines = _Lines(handle, path.name)
        reader = csv.reader(lines, strict=True)
        try:
            header = _header(next(reader, []), path.name)
            lines.take()
            for cells in reader:
                number, raw = lines.take()
                if any(cells):
                    body = _row_body(header, cells, lists, agency)
                    yield Record(Submission(body, raw, number), lines.end)
        except csv.Error as exc:
            raise FileDropError(f"{path.name}, line {lines.number}: {exc}") from None


def _header(cells: list[str], name: str) -> list[_Path]:
    """Each column's field path; refuses an empty header, a repeated or clashing name."""
    if not any(cells):
        raise FileDropError(f"{name}: the first line must be a header naming the fields")
    paths: list[_Path] = [
        tuple(cell.strip().split(".")) if cell.strip() else None for cell in cells
    ]
    seen: set[tuple[str, ...]] = set()
    for column, found in enumerate(paths, start=1):
        if found is None:
            continue
        dotted = ".".join(found)
        if not all(found):
            raise FileDropError(f"{name}: header of column {column} ({dotted!r}) has an empty part")
        if found in seen:
            raise FileDropError(f"{name}: column {dotted!r} appears twice")
        seen.add(found)
    for found in seen:
        for depth in range(1, len(found)):
            if found[:depth] in seen:
                parent = ".".join(found[:depth])
                raise FileDropError(f"{name}: columns {parent!r} and {'.'.join(found)!r} clash")
    return paths


def _row_body(
    header: list[_Path], cells: list[str], lists: set[tuple[str, ...]], agency: str
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for column, cell in enumerate(cells, start=1):
        if cell == "":
            continue
        path = header[column - 1] if column <= len(header) else None
        if path is None:
            body[f"(column {column})"] = cell  # an unknown field: refused, named by column
            continue
        value: str | list[str] = _split(cell) if path in lists else cell
        target = body
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    body.setdefault("agency", agency)
    return body


def _split(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]


def _list_fields(kind: EventKind) -> set[tuple[str, ...]]:
    """The top-level fields of ``kind``'s contract that hold a list (optional or not)."""
    found: set[tuple[str, ...]] = set()
    for name, info in MODEL_OF_KIND[kind].model_fields.items():
        annotation = info.annotation
        options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
        if get_origin(annotation) is list or any(get_origin(o) is list for o in options):
            found.add((name,))
    return found
