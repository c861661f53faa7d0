"""What the person and place views share: the model base, event ranks and bounded windows.

Views are folds of events that Kafka may deliver twice and in any order across topics, so
every part of a view is built from operations whose result does not depend on arrival
order: minimum, maximum, set union, "latest by event time" with a total tie-break, and
windows that keep the greatest items by event time. These helpers are those operations.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict

from schemas.errors import BackboneError

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

T = TypeVar("T")
C = TypeVar("C", bound="SupportsRichComparison")

#: An event's place in event-time order: its time, then its id (canonical text, which sorts
#: as the ids do), so that ties break the same way on every worker.
EventRank = tuple[datetime, str]


class ViewModel(BaseModel):
    """Base of every view model: immutable, so that a fold returns a new value (copy on write)
    and a Faust table never holds a value someone else is changing.

    The collections inside are plain dicts and tuples, typed as read-only; the folds copy
    what they change and never mutate what they were given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


class ErasureNotFoldedError(BackboneError, ValueError):
    """An ErasureRequest was given to a fold: erasure deletes a view rather than changing it,
    and folding it as a no-op would silently keep what the person asked to be erased."""


def seen(window: tuple[EventRank, ...], rank: EventRank) -> bool:
    """Whether ``rank`` is in ``window``, a tuple of ranks in ascending order."""
    index = bisect_left(window, rank)
    return index < len(window) and window[index] == rank


def keep_latest(window: tuple[C, ...], item: C, limit: int) -> tuple[C, ...]:
    """``window`` (ascending) with ``item`` added, keeping the ``limit`` greatest.

    The result is the ``limit`` greatest of everything ever added, whatever the order of
    addition, and adding an item already kept changes nothing: the window is
    order-insensitive and idempotent. The same tuple comes back when nothing changed.
    """
    index = bisect_right(window, item)
    return _added(window, item, index, limit, kept=index > 0 and window[index - 1] == item)


def keep_latest_by(
    window: tuple[T, ...], item: T, limit: int, key: Callable[[T], EventRank]
) -> tuple[T, ...]:
    """:func:`keep_latest` for items ordered by ``key``; an item of a kept rank is kept."""
    rank = key(item)
    index = bisect_right(window, rank, key=key)
    return _added(window, item, index, limit, kept=index > 0 and key(window[index - 1]) == rank)


def _added(window: tuple[T, ...], item: T, index: int, limit: int, *, kept: bool) -> tuple[T, ...]:
    if kept or (index == 0 and len(window) >= limit):
        return window
    added = (*window[:index], item, *window[index:])
    return added[-limit:] if len(added) > limit else added


def evict_oldest(entries: dict[str, T], limit: int, key: Callable[[T], Any]) -> None:
    """Drop the entry of least ``key`` from ``entries`` (a fresh copy) while over ``limit``.

    A safety bound against a faulty feed, far above what a real life produces.
    """
    while len(entries) > limit:
        oldest = min(entries, key=lambda name: (key(entries[name]), name))
        del entries[oldest]


def dump_json(view: BaseModel) -> str:
    """``view`` as canonical JSON: sorted keys, no spaces, so equal views give equal text.

    The SQL store compares this text to skip writes that change nothing.
    """
    return json.dumps(
        view.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
