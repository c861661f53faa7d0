"""The shared view in SQL: each person's and place's latest view, and which events made them.

The Faust tables are the working copy and can be rebuilt; these tables are what the read API
serves and what outlives a lost changelog. A batch of views is written with the ids of the
events folded into it, in one transaction: ``view_events`` has a unique event id, and a view
is only rewritten when its text changes, so writing the same batch again changes nothing.
Views are stored as canonical JSON (:func:`streams.views.dump_json`), so equal views are
equal text.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Identity,
    Index,
    Integer,
    Text,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from streams.store.base import Base
from streams.store.engine import insert_for
from streams.store.errors import StoreError, failing_as
from streams.views.common import dump_json
from streams.views.person import PersonView
from streams.views.place import PlaceView

#: Look-ups by id go in chunks, under every database's limit on bound parameters.
_CHUNK = 500


class PersonViewRow(Base):
    """One person's view; ``last_event_at`` is a column too, to find who has gone quiet."""

    __tablename__ = "person_views"
    __table_args__ = (Index("ix_person_views_last_event_at", "last_event_at"),)

    person_key: Mapped[str] = mapped_column(primary_key=True)
    view: Mapped[str] = mapped_column(Text())
    last_event_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PlaceViewRow(Base):
    """One place's view."""

    __tablename__ = "place_views"

    place_id: Mapped[str] = mapped_column(primary_key=True)
    view: Mapped[str] = mapped_column(Text())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ViewEventRow(Base):
    """An event folded into the views, by id: the views' idempotency record."""

    __tablename__ = "view_events"
    __table_args__ = (
        Index("ix_view_events_person_key", "person_key"),
        # SQLite would otherwise reuse the position of a deleted last row.
        {"sqlite_autoincrement": True},
    )

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    event_id: Mapped[UUID] = mapped_column(unique=True)
    person_key: Mapped[str]
    applied_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ViewStore:
    """Writes batches of views idempotently; reads them back; erases a person."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = insert_for(engine)

    def apply_batch(
        self,
        persons: Mapping[str, PersonView],
        places: Mapping[str, PlaceView],
        event_ids: Sequence[tuple[UUID, str]],
        *,
        replayed: Sequence[tuple[UUID, str]] = (),
        dropped: Collection[str] = (),
    ) -> int:
        """Record ``event_ids`` (event id, person key) and write the views, in one transaction.

        An event id already recorded keeps its first record, and a view equal to the stored
        one is not rewritten (its ``updated_at`` stays). ``replayed`` are events a merge or a
        split re-keyed: their records move to the new key (:meth:`_move`). ``dropped`` are
        persons whose view a merge or a split reset and nothing rebuilt yet. Returns how many
        ids were new or moved. Rows are written in key order, so that concurrent batches on
        PostgreSQL take their locks in the same order and do not deadlock on each other.
        """
        _check_keys(persons)
        _check_keys(places)
        person_rows = [
            {"person_key": key, "view": dump_json(view), "last_event_at": view.last_event_at}
            for key, view in sorted(persons.items())
        ]
        place_rows = [
            {"place_id": key, "view": dump_json(view)} for key, view in sorted(places.items())
        ]
        with failing_as("writing views"), self._engine.begin() as connection:
            recorded = self._record(connection, event_ids)
            recorded += self._move(connection, replayed)
            for person_key in sorted(dropped):
                connection.execute(
                    delete(PersonViewRow).where(PersonViewRow.person_key == person_key)
                )
            self._upsert(connection, PersonViewRow, person_rows, "person_key", "last_event_at")
            self._upsert(connection, PlaceViewRow, place_rows, "place_id")
        return recorded

    def person(self, person_key: str) -> PersonView | None:
        """The stored view of ``person_key``, or None."""
        statement = select(PersonViewRow.view).where(PersonViewRow.person_key == person_key)
        with failing_as("reading a person view"), self._engine.connect() as connection:
            text = connection.execute(statement).scalar_one_or_none()
        return None if text is None else PersonView.model_validate_json(text)

    def place(self, place_id: str) -> PlaceView | None:
        """The stored view of ``place_id``, or None."""
        statement = select(PlaceViewRow.view).where(PlaceViewRow.place_id == place_id)
        with failing_as("reading a place view"), self._engine.connect() as connection:
            text = connection.execute(statement).scalar_one_or_none()
        return None if text is None else PlaceView.model_validate_json(text)

    def persons(self) -> dict[str, PersonView]:
        """Every stored person view: for rebuild checks and the oracle tests, not for serving."""
        statement = select(PersonViewRow.person_key, PersonViewRow.view)
        with failing_as("reading person views"), self._engine.connect() as connection:
            rows = connection.execute(statement).all()
        return {key: PersonView.model_validate_json(text) for key, text in rows}

    def places(self) -> dict[str, PlaceView]:
        """Every stored place view: for rebuild checks and the oracle tests, not for serving."""
        statement = select(PlaceViewRow.place_id, PlaceViewRow.view)
        with failing_as("reading place views"), self._engine.connect() as connection:
            rows = connection.execute(statement).all()
        return {key: PlaceView.model_validate_json(text) for key, text in rows}

    def applied(self, event_ids: Collection[UUID]) -> set[UUID]:
        """Which of ``event_ids`` have been folded into the stored views."""
        wanted = list(event_ids)
        found: set[UUID] = set()
        with failing_as("reading view events"), self._engine.connect() as connection:
            for start in range(0, len(wanted), _CHUNK):
                statement = select(ViewEventRow.event_id).where(
                    ViewEventRow.event_id.in_(wanted[start : start + _CHUNK])
                )
                found.update(connection.execute(statement).scalars())
        return found

    def erase(self, person_key: str) -> None:
        """Delete ``person_key``'s view and event records, and their key from every place.

        Cost: a place view names persons inside its JSON, so finding them scans the text of
        every place view (a LIKE on the key, which no index serves), then parses and rewrites
        only those that name the person; linear in the number of places, which erasures,
        being rare, can afford. One transaction: a failure erases nothing.
        """
        needle = _json_key(person_key)
        candidates = (
            select(PlaceViewRow.place_id, PlaceViewRow.view)
            .where(PlaceViewRow.view.contains(needle, autoescape=True))
            .order_by(PlaceViewRow.place_id)
            .with_for_update()
        )
        with failing_as("erasing a person"), self._engine.begin() as connection:
            connection.execute(delete(PersonViewRow).where(PersonViewRow.person_key == person_key))
            connection.execute(delete(ViewEventRow).where(ViewEventRow.person_key == person_key))
            rows: list[dict[str, Any]] = []
            for place_id, text in connection.execute(candidates).all():
                view = PlaceView.model_validate_json(text)
                erased = view.erase(person_key)
                if erased is not view:
                    rows.append({"place_id": place_id, "view": dump_json(erased)})
            self._upsert(connection, PlaceViewRow, rows, "place_id")

    def _record(self, connection: Connection, event_ids: Sequence[tuple[UUID, str]]) -> int:
        if not event_ids:
            return 0
        statement = (
            self._insert(ViewEventRow)
            .on_conflict_do_nothing(index_elements=[ViewEventRow.event_id])
            .returning(ViewEventRow.event_id)
        )
        rows = [{"event_id": event_id, "person_key": key} for event_id, key in sorted(event_ids)]
        return len(connection.execute(statement, rows).all())

    @staticmethod
    def _move(connection: Connection, replayed: Sequence[tuple[UUID, str]]) -> int:
        """Give recorded ``replayed`` ids their new key. An id not recorded yet stays so: its
        first fold, still on its way under the old key, is the one places must count."""
        if not replayed:
            return 0
        statement = (
            update(ViewEventRow)
            .where(ViewEventRow.event_id == bindparam("moved_id"))
            .values(person_key=bindparam("moved_to"))
        )
        rows = [{"moved_id": event_id, "moved_to": key} for event_id, key in sorted(replayed)]
        return connection.execute(statement, rows).rowcount

    def _upsert(
        self,
        connection: Connection,
        table: type[PersonViewRow] | type[PlaceViewRow],
        rows: list[dict[str, Any]],
        key: str,
        *also: str,
    ) -> None:
        """Insert ``rows``, or rewrite a stored row whose view text differs."""
        if not rows:
            return
        statement = self._insert(table)
        changed = {name: statement.excluded[name] for name in ("view", *also)}
        statement = statement.on_conflict_do_update(
            index_elements=[key],
            set_={**changed, "updated_at": func.now()},
            where=table.view != statement.excluded.view,
        )
        connection.execute(statement, rows)


def _json_key(person_key: str) -> str:
    """How ``person_key`` appears as a key in a view's canonical JSON."""
    return json.dumps(person_key, ensure_ascii=False) + ":"


def _check_keys(views: Mapping[str, PersonView] | Mapping[str, PlaceView]) -> None:
    """Refuse a view filed under another key: that is a caller's bug, not data to store."""
    for key, view in views.items():
        own = view.person_key if isinstance(view, PersonView) else view.place_id
        if key != own:
            raise StoreError("a view was given under another key than its own")
