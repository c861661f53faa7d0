"""The backbone's durable state in SQL: SQLite on one machine, PostgreSQL in production.

Today it holds the event journal. Importing the package imports every table module, so
that the migrations see the whole schema.
"""

from streams.store.engine import DEFAULT_URL, create_engine
from streams.store.errors import StoreError
from streams.store.journal import EventJournal, JournalEntry
from streams.store.migrate import migrate
from streams.store.store import Store

__all__ = [
    "DEFAULT_URL",
    "EventJournal",
    "JournalEntry",
    "Store",
    "StoreError",
    "create_engine",
    "migrate",
]
