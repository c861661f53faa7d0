"""Accepted events: what the ingest edge has accepted, by event id, with its bytes.

The ingest's idempotency rests on it (a repeat is known, a conflicting body is caught), and
it is the durable copy of every accepted message, from which a broker that lost its topics
(the memory-only embedded one) is given them again; except for an erased person's messages
(:mod:`streams.store.erasure`): their ``key`` and ``payload`` are blanked and ``erased_at``
set, while ``event_id`` and ``fingerprint`` stay, so a re-sent event is still a repeat. An
erased entry has nothing left to publish.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Identity, Index, Integer, LargeBinary, String, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from streams.store.base import Base
from streams.store.engine import insert_for
from streams.store.errors import failing_as


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptedEntry:
    """One accepted event; ``position``, ``accepted_at`` and ``erased_at`` are set by the store."""

    event_id: UUID
    kind: str
    agency: str
    connector: str
    fingerprint: str
    topic: str
    key: bytes
    payload: bytes
    accepted_at: datetime | None = field(default=None, compare=False)
    position: int | None = field(default=None, compare=False)
    erased_at: datetime | None = field(default=None, compare=False)


class AcceptedRow(Base):
    """The accepted-events table."""

    __tablename__ = "accepted_events"
    __table_args__ = (
        # Erasure finds a person's messages by their key (agency and local id).
        Index("ix_accepted_events_key", "key"),
        {"sqlite_autoincrement": True},
    )

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    event_id: Mapped[UUID] = mapped_column(unique=True)
    kind: Mapped[str]
    agency: Mapped[str]
    connector: Mapped[str]
    fingerprint: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str]
    key: Mapped[bytes] = mapped_column(LargeBinary())
    payload: Mapped[bytes] = mapped_column(LargeBinary())
    accepted_at: Mapped[datetime] = mapped_column(server_default=func.now())
    erased_at: Mapped[datetime | None]


_COLUMNS = tuple(getattr(AcceptedRow, entry_field.name) for entry_field in fields(AcceptedEntry))
_SUPPLIED = tuple(
    f.name for f in fields(AcceptedEntry) if f.name not in {"accepted_at", "position", "erased_at"}
)
#: Look-ups by id go in chunks, under every database's limit on bound parameters.
_CHUNK = 500


class AcceptedEvents:
    """Idempotent records of accepted events and look-ups by id."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = insert_for(engine)

    def record_many(self, entries: Sequence[AcceptedEntry]) -> int:
        """Record ``entries``; an id already recorded keeps its first record. Returns new ones."""
        if not entries:
            return 0
        statement = (
            self._insert(AcceptedRow)
            .on_conflict_do_nothing(index_elements=[AcceptedRow.event_id])
            .returning(AcceptedRow.event_id)
        )
        rows = [{name: getattr(entry, name) for name in _SUPPLIED} for entry in entries]
        with failing_as("recording accepted events"), self._engine.begin() as connection:
            return len(connection.execute(statement, rows).all())

    def fingerprints(self, event_ids: Collection[UUID]) -> dict[UUID, str]:
        """The fingerprint of each of ``event_ids`` already accepted."""
        wanted = list(event_ids)
        found: dict[UUID, str] = {}
        with failing_as("reading accepted events"), self._engine.connect() as connection:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                statement = select(AcceptedRow.event_id, AcceptedRow.fingerprint).where(
                    AcceptedRow.event_id.in_(chunk)
                )
                found.update(
                    {row.event_id: row.fingerprint for row in connection.execute(statement)}
                )
        return found

    def entries(self, since_position: int = 0, limit: int = 1000) -> list[AcceptedEntry]:
        """Up to ``limit`` entries after ``since_position``, in the order they were accepted."""
        statement = (
            select(*_COLUMNS)
            .where(AcceptedRow.position > since_position)
            .order_by(AcceptedRow.position)
            .limit(limit)
        )
        with failing_as("reading accepted events"), self._engine.connect() as connection:
            return [AcceptedEntry(**row) for row in connection.execute(statement).mappings()]

    def count(self) -> int:
        """How many events have been accepted."""
        with failing_as("counting accepted events"), self._engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(AcceptedRow)).scalar_one()
