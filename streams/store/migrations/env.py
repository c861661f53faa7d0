"""Alembic's environment: migrates the connection that :func:`streams.store.migrate.upgrade`
lends it, inside that connection's transaction.

There is no offline mode and no URL of its own: the store's engine carries the SQLite
settings and the psycopg driver, which an engine made here would miss.
"""

from alembic import context
from sqlalchemy.engine import Connection

# Importing any module of the package imports every table module with it.
from streams.store.base import Base

connection: Connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite can alter little in place, so there Alembic copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
