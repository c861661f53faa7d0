"""The event journal: every accepted agency event, recorded exactly once.

Views are rebuilt from it, and it outlives the embedded Kafka broker, which keeps its
topics in memory only. It is append-only with one exception: erasure of a person
(:mod:`streams.store.erasure`) blanks the ``local_id`` and ``payload`` of the person's
entries and sets ``erased_at``. The entries stay, so their event ids still recognise
redeliveries; nothing else ever changes an entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Identity,
    Index,
    Integer,
    Select,
    Text,
    func,
    select,
    tuple_,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from schemas.models import AGENCY_EVENTS, AgencyEvent
from streams.store.base import Base, as_utc
from streams.store.engine import insert_for
from streams.store.errors import failing_as

_MODEL_OF_RECORD = {model.__name__: model for model in AGENCY_EVENTS}


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One accepted event as the journal holds it.

    ``local_id`` is the agency's own id of the person, by which erasure finds the person's
    entries. ``recorded_at``, ``position`` and ``erased_at`` (when erasure blanked
    ``local_id`` and ``payload``) are set by the store and read back; they are left out of
    comparisons, so an entry equals what the journal returns for it.
    """

    event_id: UUID
    kind: str
    record: str
    agency: str
    local_id: str
    occurred_at: datetime
    payload: str
    source_topic: str
    source_partition: int
    source_offset: int
    recorded_at: datetime | None = field(default=None, compare=False)
    position: int | None = field(default=None, compare=False)
    erased_at: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        """Refuse a naive ``occurred_at`` now rather than at write time, and keep it in UTC."""
        object.__setattr__(self, "occurred_at", as_utc(self.occurred_at))

    def event(self) -> AgencyEvent:
        """The event as it was accepted (an erased entry has none: ValueError)."""
        if self.erased_at is not None:
            raise ValueError("an erased journal entry holds no event")
        return _MODEL_OF_RECORD[self.record].model_validate_json(self.payload)


class JournalRow(Base):
    """The journal's table; the store hands out :class:`JournalEntry` values, not rows."""

    __tablename__ = "event_journal"
    __table_args__ = (
        Index("ix_event_journal_kind_position", "kind", "position"),
        Index("ix_event_journal_agency_local_id", "agency", "local_id"),
        # SQLite would otherwise reuse the position of a deleted last row.
        {"sqlite_autoincrement": True},
    )

    # SQLite numbers rows itself only for a column typed exactly INTEGER.
    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    event_id: Mapped[UUID] = mapped_column(unique=True)
    kind: Mapped[str]
    record: Mapped[str]
    agency: Mapped[str]
    local_id: Mapped[str]
    occurred_at: Mapped[datetime]
    payload: Mapped[str] = mapped_column(Text())
    source_topic: Mapped[str]
    source_partition: Mapped[int]
    source_offset: Mapped[int] = mapped_column(BigInteger())
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())
    erased_at: Mapped[datetime | None]


#: The columns read back into a :class:`JournalEntry`, named as its fields.
_ENTRY_COLUMNS = tuple(
    getattr(JournalRow, entry_field.name) for entry_field in fields(JournalEntry)
)

#: The fields the caller supplies; the store sets ``recorded_at``, ``position``, ``erased_at``.
_SUPPLIED_FIELDS = tuple(
    entry_field.name
    for entry_field in fields(JournalEntry)
    if entry_field.name not in {"recorded_at", "position", "erased_at"}
)


class EventJournal:
    """The journal's operations: idempotent appends and reads in insertion order."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = insert_for(engine)

    def record_many(self, entries: Sequence[JournalEntry]) -> int:
        """Record ``entries`` in one transaction and return how many were new.

        An entry whose ``event_id`` is already recorded is skipped, so replaying a batch
        after a crash or a redelivery changes nothing.
        """
        if not entries:
            return 0
        statement = (
            self._insert(JournalRow)
            .on_conflict_do_nothing(index_elements=[JournalRow.event_id])
            .returning(JournalRow.event_id)
        )
        rows = [{name: getattr(entry, name) for name in _SUPPLIED_FIELDS} for entry in entries]
        with failing_as("recording journal entries"), self._engine.begin() as connection:
            return len(connection.execute(statement, rows).all())

    def get(self, event_id: UUID) -> JournalEntry | None:
        """The entry recorded for ``event_id``, or None."""
        found = self._read(select(*_ENTRY_COLUMNS).where(JournalRow.event_id == event_id))
        return found[0] if found else None

    def entries(
        self, kind: str | None = None, since_position: int = 0, limit: int = 1000
    ) -> list[JournalEntry]:
        """Up to ``limit`` entries after ``since_position``, in insertion order.

        A reader passes the ``position`` of the last entry it saw to get the next page.
        Positions rise but skip numbers (a skipped duplicate uses one up). With several
        writers at once on PostgreSQL, an entry can commit after one with a higher
        position, so a reader following the journal live must allow for late arrivals.
        """
        statement = select(*_ENTRY_COLUMNS).where(JournalRow.position > since_position)
        if kind is not None:
            statement = statement.where(JournalRow.kind == kind)
        return self._read(statement.order_by(JournalRow.position).limit(limit))

    def of_links(self, links: Sequence[tuple[str, str]]) -> list[JournalEntry]:
        """The unerased entries of ``links`` ((agency, local id) pairs), in insertion order:
        what a person's view is rebuilt from when a merge or a split re-keys them."""
        if not links:
            return []
        statement = select(*_ENTRY_COLUMNS).where(
            tuple_(JournalRow.agency, JournalRow.local_id).in_(list(dict.fromkeys(links))),
            JournalRow.erased_at.is_(None),
        )
        return self._read(statement.order_by(JournalRow.position))

    def count(self) -> int:
        """How many entries the journal holds."""
        with failing_as("counting journal entries"), self._engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(JournalRow)).scalar_one()

    def _read(self, statement: Select[Any]) -> list[JournalEntry]:
        with failing_as("reading the journal"), self._engine.connect() as connection:
            return [JournalEntry(**row) for row in connection.execute(statement).mappings()]
