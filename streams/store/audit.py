"""The read audit: who read which person's view, when, on what basis, and whether they could.

Every read of a person's view is recorded, refused ones too (ICO data sharing code:
accountability). It is append-only, and the database enforces it: the migration adds
triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).

Erasing a person leaves their audit rows: they are the record of who saw the person's data,
which accountability needs, and once the identity store has forgotten the person the key in
them names nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index, Integer, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import func

from streams.store.base import Base
from streams.store.errors import failing_as


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One read: ``basis`` says why it was allowed (e.g. ``direct_care,open_handoff``), or
    is empty for a refusal. ``id`` and ``at`` are set by the store."""

    team: str
    person_key: str
    what: str
    basis: str
    granted: bool
    at: datetime | None = field(default=None, compare=False)
    id: int | None = field(default=None, compare=False)


class AuditRow(Base):
    """The read-audit table."""

    __tablename__ = "read_audit"
    __table_args__ = (
        Index("ix_read_audit_person_key_id", "person_key", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    team: Mapped[str]
    person_key: Mapped[str]
    what: Mapped[str]
    basis: Mapped[str]
    granted: Mapped[bool]


_COLUMNS = tuple(getattr(AuditRow, entry_field.name) for entry_field in fields(AuditEntry))


class ReadAudit:
    """Appends reads and lists them in the order they were recorded."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(
        self, team: str, person_key: str, what: str, basis: str, *, granted: bool
    ) -> AuditEntry:
        """Record one read and return it as stored (with its ``id`` and ``at``)."""
        values = {
            "team": team,
            "person_key": person_key,
            "what": what,
            "basis": basis,
            "granted": granted,
        }
        statement = insert(AuditRow).values(values).returning(*_COLUMNS)
        with failing_as("recording a read"), self._engine.begin() as connection:
            row = connection.execute(statement).mappings().one()
        return AuditEntry(**row)

    def entries(
        self,
        *,
        person_key: str | None = None,
        team: str | None = None,
        since_id: int = 0,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Up to ``limit`` reads after ``since_id``, oldest first, optionally of one person or
        by one team; a reader pages on with the ``id`` of the last entry it saw."""
        statement = select(*_COLUMNS).where(AuditRow.id > since_id)
        if person_key is not None:
            statement = statement.where(AuditRow.person_key == person_key)
        if team is not None:
            statement = statement.where(AuditRow.team == team)
        statement = statement.order_by(AuditRow.id).limit(limit)
        with failing_as("reading the read audit"), self._engine.connect() as connection:
            return [AuditEntry(**row) for row in connection.execute(statement).mappings()]
