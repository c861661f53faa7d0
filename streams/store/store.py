"""The store: the backbone's durable state in one SQL database."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from streams.store.accepted import AcceptedEvents
from streams.store.alerts import AlertStore
from streams.store.audit import ReadAudit
from streams.store.decisions import Decisions
from streams.store.engine import DEFAULT_URL, create_engine
from streams.store.erasure import Erasures
from streams.store.identity import IdentityStore
from streams.store.journal import EventJournal
from streams.store.migrate import upgrade
from streams.store.views import ViewStore


class Store:
    """One database and the tables the backbone keeps in it.

    :meth:`open` is the way in for the backbone; the constructor takes an engine as it is,
    without migrating, for a caller that has made one itself.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.journal = EventJournal(engine)
        self.accepted = AcceptedEvents(engine)
        self.views = ViewStore(engine)
        self.audit = ReadAudit(engine)
        self.identity = IdentityStore(engine)
        self.erasures = Erasures(engine)
        self.decisions = Decisions(engine)
        self.alerts = AlertStore(engine)

    @classmethod
    def open(cls, url: str | URL = DEFAULT_URL) -> Store:
        """Migrate the database at ``url`` to the newest schema, then open it.

        Raises :class:`~streams.store.errors.StoreError` when it cannot.
        """
        engine = create_engine(url)
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def ping(self) -> bool:
        """Whether the database answers now; for the health check, so it never raises."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        """Close the pooled connections; a later call reconnects."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
