"""The backbone's durable state in SQL: SQLite on one machine, PostgreSQL in production.

It holds the event journal and the accepted-events ledger. Importing the package imports
every table module, so that the migrations see the whole schema.
"""

from streams.store.accepted import AcceptedEntry, AcceptedEvents
from streams.store.engine import DEFAULT_URL, create_engine
from streams.store.errors import StoreError
from streams.store.journal import EventJournal, JournalEntry
from streams.store.migrate import migrate
from streams.store.store import Store

__all__ = [
    "DEFAULT_URL",
    "AcceptedEntry",
    "AcceptedEvents",
    "EventJournal",
    "JournalEntry",
    "Store",
    "StoreError",
    "create_engine",
    "migrate",
]
