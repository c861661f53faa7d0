"""The backbone's durable state in SQL: SQLite on one machine, PostgreSQL in production.

It holds the event journal, the accepted-events ledger, the shared view and its read
audit, the identity store, the records of erasures and of engineers' identity
decisions, and the alerts on frontline teams' feeds. Importing the package imports every
table module, so that the migrations see the whole schema.
"""

from streams.store.accepted import AcceptedEntry, AcceptedEvents
from streams.store.alerts import AlertStatus, AlertStore, FeedAlert, Outcome, Refused
from streams.store.audit import AuditEntry, ReadAudit
from streams.store.decisions import DecisionOutcome, Decisions
from streams.store.engine import DEFAULT_URL, create_engine
from streams.store.erasure import Erased, Erasures
from streams.store.errors import StoreError
from streams.store.identity import IdentityStore
from streams.store.journal import EventJournal, JournalEntry
from streams.store.migrate import migrate
from streams.store.store import Store
from streams.store.views import ViewStore

__all__ = [
    "DEFAULT_URL",
    "AcceptedEntry",
    "AcceptedEvents",
    "AlertStatus",
    "AlertStore",
    "AuditEntry",
    "DecisionOutcome",
    "Decisions",
    "Erased",
    "Erasures",
    "EventJournal",
    "FeedAlert",
    "IdentityStore",
    "JournalEntry",
    "Outcome",
    "ReadAudit",
    "Refused",
    "Store",
    "StoreError",
    "ViewStore",
    "create_engine",
    "migrate",
]
