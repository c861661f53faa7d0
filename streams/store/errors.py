"""The store's error, and the one place SQLAlchemy's errors are turned into it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from schemas.errors import BackboneError


class StoreError(BackboneError):
    """The store could not do what was asked: the database was unreachable or refused it,
    the schema could not be migrated, or the data given to it was invalid."""


@contextmanager
def failing_as(action: str) -> Iterator[None]:
    """Raise :class:`StoreError` from any SQLAlchemy error while doing ``action``.

    Callers then catch one backbone error, and the driver's error stays in ``__cause__``.
    """
    try:
        yield
    except SQLAlchemyError as error:
        raise StoreError(f"{action} failed: {error}") from error
