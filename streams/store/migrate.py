"""Schema migrations with Alembic, run from code.

The configuration is built here rather than read from an ``alembic.ini``, so migrating
works from any working folder and from an installed package. A new table group gets a
module deriving from :class:`streams.store.base.Base`, imported by the package, and a
revision in ``migrations/versions/`` after the last one; the tests check that the
migrated schema matches the models.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from streams.store.engine import create_engine
from streams.store.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration for migrating through ``connection``."""
    config = Config()
    # Alembic's options pass through configparser, where % starts an interpolation.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring ``engine``'s database to the newest schema, in one transaction.

    Running it again on a migrated database does nothing.
    """
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
    except (SQLAlchemyError, CommandError) as error:
        raise StoreError(f"migrating {engine.url!r} failed: {error}") from error


def migrate(url: str | URL) -> None:
    """Bring the database at ``url`` to the newest schema."""
    engine = create_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
