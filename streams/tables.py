"""What the view agents' Faust tables share: model values, and where a write's changelog goes.

Values are frozen pydantic models. Faust writes them to the changelog with its JSON codec,
which calls ``__json__``, and hands recovered values to the table as the decoded JSON, which
:class:`ModelTable` turns back into the model: live and recovered tables hold equal values.

Faust sends a table write to the changelog partition of the event being processed, which it
reads from a context variable set as each event passes through the stream. An agent that
takes events in batches (``take_events``) processes a whole batch after the stream has moved
on, so that variable names some other event, perhaps of another partition: a write would
land in the wrong changelog partition and be restored to the wrong worker.
:func:`changelog_partition_of` sets the event explicitly around each write.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust.streams import _current_event  # reason: faust exposes only the getter
from pydantic import BaseModel, ConfigDict


class TableValue(BaseModel):
    """A table value: immutable, and written to the changelog as its JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __json__(self) -> dict[str, Any]:
        """What faust's JSON codec writes to the changelog."""
        return self.model_dump(mode="json")


class ModelTable(faust.Table):  # type: ignore[type-arg]  # reason: keys and values vary by table
    """A table of string keys and ``model`` values."""

    def __init__(self, app: Any, *, model: type[TableValue], **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.model = model

    def _to_value(self, v: Any) -> Any:
        """A recovered value (decoded JSON) as the model; faust calls this in recovery."""
        return v if v is None or isinstance(v, self.model) else self.model.model_validate(v)


def model_table(app: Any, name: str, model: type[TableValue]) -> Any:
    """Define a :class:`ModelTable` on ``app``, as ``app.Table`` would define a table."""
    return app.tables.add(ModelTable(app, name=name, beacon=app.tables.beacon, model=model))


@contextmanager
def changelog_partition_of(event: Any) -> Iterator[None]:
    """Make table writes inside go to the changelog partition of ``event`` (a Faust event)."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
