"""The identity store: what the matcher knows of each person, and the review queue.

Personal identifiers live here and nowhere else: every other table and topic carries the
pseudonymous person key. The matcher works in memory; this store is its durable half. The
identity agent appends each new observation as it resolves it, and a restarted worker
rebuilds the matcher from :meth:`IdentityStore.snapshot`. Appends are idempotent (a content
hash per observation), so a replay after a crash changes nothing. A person's erasure, here
as in the rest of the store, is done by :class:`streams.store.erasure.Erasures`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Identity,
    Integer,
    Select,
    String,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from streams.identity.matcher import Learned, Observation, Snapshot
from streams.identity.records import IdentityRecord
from streams.store.base import Base
from streams.store.engine import insert_for
from streams.store.errors import failing_as


class ObservationRow(Base):
    """One distinct record of a person, as an agency knows them."""

    __tablename__ = "identity_observations"
    __table_args__ = ({"sqlite_autoincrement": True},)

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    #: SHA-256 of the record's fields: the same record is kept once.
    record_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_key: Mapped[str] = mapped_column(index=True)
    agency: Mapped[str]
    local_id: Mapped[str]
    given_name: Mapped[str | None]
    family_name: Mapped[str | None]
    birth_date: Mapped[str | None]
    address: Mapped[str | None]
    postcode: Mapped[str | None]
    nhs_number: Mapped[str | None]


class RetiredKeyRow(Base):
    """A person key merged away: never handed out again."""

    __tablename__ = "identity_retired_keys"

    person_key: Mapped[str] = mapped_column(primary_key=True)


class LearnedRow(Base):
    """What confident links taught the matcher about one field's agreement levels."""

    __tablename__ = "identity_learned"

    field: Mapped[str] = mapped_column(primary_key=True)
    counts: Mapped[str] = mapped_column(Text())


class ReviewRow(Base):
    """A record that scored in the grey band: an engineer merges it or keeps it apart."""

    __tablename__ = "identity_reviews"

    person_key: Mapped[str] = mapped_column(primary_key=True)
    candidates: Mapped[str] = mapped_column(Text())
    status: Mapped[str] = mapped_column(default="open")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None]


@dataclass(frozen=True)
class Review:
    """An open or settled review: the provisional person and the candidates it may be."""

    person_key: str
    candidates: tuple[tuple[str, float], ...]
    status: str
    resolution: str | None = None


_RECORD_FIELDS = IdentityRecord._fields


def record_hash(person_key: str, record: IdentityRecord) -> str:
    """The same for the same record of the same person."""
    return hashlib.sha256(json.dumps([person_key, *record]).encode()).hexdigest()


class IdentityStore:
    """Durable observations, retired keys, learnt counts and reviews."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = insert_for(engine)

    def append(self, observations: Sequence[Observation]) -> int:
        """Keep ``observations`` (idempotently); returns how many were new."""
        if not observations:
            return 0
        rows = [
            {
                "record_hash": record_hash(o.person_key, o.record),
                "person_key": o.person_key,
                **o.record._asdict(),
            }
            for o in observations
        ]
        statement = (
            self._insert(ObservationRow)
            .on_conflict_do_nothing(index_elements=[ObservationRow.record_hash])
            .returning(ObservationRow.position)
        )
        with failing_as("recording identity observations"), self._engine.begin() as connection:
            return len(connection.execute(statement, rows).all())

    def snapshot(self) -> Snapshot:
        """Everything the matcher needs to rebuild itself, in the order it was learnt."""
        with failing_as("reading the identity store"), self._engine.connect() as connection:
            rows = connection.execute(
                select(ObservationRow.__table__).order_by(ObservationRow.position)
            ).mappings()
            by_person: dict[str, list[Observation]] = {}
            for row in rows:
                record = IdentityRecord(*(row[name] for name in _RECORD_FIELDS))
                key = row["person_key"]
                by_person.setdefault(key, []).append(Observation(key, record))
            retired = connection.execute(select(RetiredKeyRow.person_key)).scalars().all()
            learned = connection.execute(select(LearnedRow.field, LearnedRow.counts)).all()
        # Persons in the order they first appeared, each one's observations in order seen.
        ordered = tuple(o for person in by_person.values() for o in person)
        return Snapshot(
            ordered,
            tuple(retired),
            tuple(Learned(row.field, tuple(json.loads(row.counts))) for row in learned),
        )

    def records(self, person_key: str) -> list[IdentityRecord]:
        """A person's records in the order they were first seen, for an engineer to compare."""
        columns = [ObservationRow.__table__.c[name] for name in _RECORD_FIELDS]
        statement = (
            select(*columns)
            .where(ObservationRow.person_key == person_key)
            .order_by(ObservationRow.position)
        )
        with failing_as("reading a person's records"), self._engine.connect() as connection:
            return [IdentityRecord(*row) for row in connection.execute(statement)]

    def learn(self, learned: Sequence[Learned]) -> None:
        """Replace the learnt counts (they only grow, so the latest is the truth)."""
        if not learned:
            return
        rows = [{"field": item.field, "counts": json.dumps(list(item.counts))} for item in learned]
        statement = self._insert(LearnedRow)
        statement = statement.on_conflict_do_update(
            index_elements=[LearnedRow.field], set_={"counts": statement.excluded.counts}
        )
        with failing_as("recording learnt counts"), self._engine.begin() as connection:
            connection.execute(statement, rows)

    def add_review(self, person_key: str, candidates: Sequence[tuple[str, float]]) -> None:
        """Queue ``person_key`` (provisional) for an engineer to compare with ``candidates``."""
        statement = self._insert(ReviewRow).on_conflict_do_nothing()
        values = {"person_key": person_key, "candidates": json.dumps(list(candidates))}
        with failing_as("queueing an identity review"), self._engine.begin() as connection:
            connection.execute(statement, values)

    def reviews(self, status: str | None = "open") -> list[Review]:
        """Reviews, oldest first; ``status`` None for all."""
        table = ReviewRow.__table__
        statement = select(table).order_by(table.c.created_at, table.c.person_key)
        if status is not None:
            statement = statement.where(table.c.status == status)
        return self._reviews(statement)

    def review(self, person_key: str) -> Review | None:
        """The review of provisional person ``person_key``, or None."""
        table = ReviewRow.__table__
        found = self._reviews(select(table).where(table.c.person_key == person_key))
        return found[0] if found else None

    def _reviews(self, statement: Select[Any]) -> list[Review]:
        with failing_as("reading identity reviews"), self._engine.connect() as connection:
            return [
                Review(
                    row["person_key"],
                    tuple((key, score) for key, score in json.loads(row["candidates"])),
                    row["status"],
                    row["resolution"],
                )
                for row in connection.execute(statement).mappings()
            ]

    def settle(self, person_key: str, status: str, resolution: str) -> bool:
        """Close an open review (``merged`` or ``kept``); False if it was not open."""
        statement = (
            update(ReviewRow)
            .where(ReviewRow.person_key == person_key, ReviewRow.status == "open")
            .values(status=status, resolution=resolution, resolved_at=func.now())
        )
        with failing_as("settling an identity review"), self._engine.begin() as connection:
            return bool(connection.execute(statement).rowcount)
