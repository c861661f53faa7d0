"""Erasure of a person (the right to erasure) from the store, in one transaction.

The identity store loses the person's observations and reviews, the alert feeds the alerts
about them, and the key is retired so
it is never handed out again. The journal's and the accepted-events ledger's rows of the
person's links are scrubbed, not deleted: identifiers go (local id, key, payload) and
``erased_at`` is set, but event ids stay, so a redelivered or re-sent event is recognised
as a repeat instead of being recorded again, identifiers and all. Each request is recorded
by its event id: the identity agent, redelivered a request after a crash, finds the key it
erased (:meth:`Erasures.erased_key`) and passes the erasure on again.

What stays: the learnt agreement-level counts (they identify nobody). Views are erased by
:meth:`streams.store.views.ViewStore.erase`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from schemas.models import AlertSubjectKind
from streams.identity.records import Link
from streams.store.accepted import AcceptedRow
from streams.store.alerts import AlertRow, AlertTeamRow
from streams.store.base import Base
from streams.store.engine import insert_for
from streams.store.errors import failing_as
from streams.store.identity import ObservationRow, RetiredKeyRow, ReviewRow
from streams.store.journal import JournalRow


class ErasureRow(Base):
    """An erasure request carried out, by the request's event id."""

    __tablename__ = "person_erasures"

    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    #: None when no person had the request's link.
    person_key: Mapped[str | None]
    erased_at: Mapped[datetime] = mapped_column(server_default=func.now())


@dataclass(frozen=True, slots=True)
class Erased:
    """An erasure request already carried out: the key it erased (None when the link was
    nobody's), and when."""

    person_key: str | None
    erased_at: datetime


#: The journal rows of one link, blanked; the event id stays.
_SCRUB_JOURNAL = (
    update(JournalRow)
    .where(
        JournalRow.agency == bindparam("link_agency"),
        JournalRow.local_id == bindparam("link_local_id"),
    )
    .values(local_id="", payload="", erased_at=func.now())
)
#: The accepted rows of one link (keyed as the ingest keys messages), blanked; the event id
#: and fingerprint stay.
_SCRUB_ACCEPTED = (
    update(AcceptedRow)
    .where(
        AcceptedRow.agency == bindparam("link_agency"),
        AcceptedRow.key == bindparam("link_key"),
    )
    .values(key=b"", payload=b"", erased_at=func.now())
)


class Erasures:
    """Carries out erasure requests, and remembers which were."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = insert_for(engine)

    def erase(self, event_id: UUID, person_key: str | None, links: Sequence[Link]) -> None:
        """Erase ``person_key`` (None: nobody was known by the request's link) and scrub the
        journal and accepted rows of ``links``, then record request ``event_id``.

        One transaction: a failure erases nothing. Idempotent: scrubbed rows no longer match
        a link and deletions find nothing, so running it again changes nothing; the first
        record of a request stands.
        """
        with failing_as("erasing a person"), self._engine.begin() as connection:
            if person_key is not None:
                for table in (ObservationRow, ReviewRow):
                    connection.execute(delete(table).where(table.person_key == person_key))
                self._erase_alerts(connection, person_key)
                connection.execute(
                    self._insert(RetiredKeyRow).on_conflict_do_nothing(),
                    {"person_key": person_key},
                )
            unique = list(dict.fromkeys(links))
            if unique:
                connection.execute(
                    _SCRUB_JOURNAL,
                    [{"link_agency": agency, "link_local_id": local} for agency, local in unique],
                )
                connection.execute(
                    _SCRUB_ACCEPTED,
                    [
                        {"link_agency": agency, "link_key": f"{agency}:{local}".encode()}
                        for agency, local in unique
                    ],
                )
            connection.execute(
                self._insert(ErasureRow).on_conflict_do_nothing(
                    index_elements=[ErasureRow.event_id]
                ),
                {"event_id": event_id, "person_key": person_key},
            )

    @staticmethod
    def _erase_alerts(connection: Connection, person_key: str) -> None:
        """Delete the alerts about the person (their evidence names their events)."""
        about = select(AlertRow.alert_id).where(
            AlertRow.subject_kind == AlertSubjectKind.PERSON.value,
            AlertRow.subject == person_key,
        )
        connection.execute(delete(AlertTeamRow).where(AlertTeamRow.alert_id.in_(about)))
        connection.execute(
            delete(AlertRow).where(
                AlertRow.subject_kind == AlertSubjectKind.PERSON.value,
                AlertRow.subject == person_key,
            )
        )

    def erased_key(self, event_id: UUID) -> Erased | None:
        """What erasure request ``event_id`` erased, or None if it has not been carried out."""
        statement = select(ErasureRow.person_key, ErasureRow.erased_at).where(
            ErasureRow.event_id == event_id
        )
        with failing_as("reading erasures"), self._engine.connect() as connection:
            row = connection.execute(statement).first()
        return None if row is None else Erased(row.person_key, row.erased_at)
