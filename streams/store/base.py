"""What every table of the store shares: the declarative base and the UTC timestamp type.

Each group of tables lives in a module of its own that derives its models from
:class:`Base`; the package imports every such module, so that ``Base.metadata`` is the
whole schema the migrations are checked against.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import DateTime, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from streams.store.errors import StoreError


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused, as its time zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StoreError(f"datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored and returned in UTC on every backend.

    PostgreSQL keeps the instant (and answers in the session's time zone); SQLite keeps
    only the wall-clock text, so the value is written in UTC and UTC is put back on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Root of the store's ORM models.

    The naming convention gives every constraint a fixed name, which migrations need to
    alter or drop it later (on SQLite, whose batch mode rebuilds tables, above all).
    """

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[Mapping[type[datetime], type[UtcDateTime]]] = {
        datetime: UtcDateTime
    }
