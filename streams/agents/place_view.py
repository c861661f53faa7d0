"""The place-view agent: each place's view in a Faust table, copied to the SQL store.

It reads place-events: person events that name a place, keyed by place id and forwarded by
the person-view agent with the partition and offset each had on person-events. A place
hears from every partition of person-events, each in order, so its table entry keeps the
last offset folded from each, and an event at or below it (re-forwarded after a crash of
the person-view agent) is skipped. As for persons, SQL is written before the table.

An ErasureRequest arrives on every partition; each removes the person from the places of
its own partition (those whose changelog is that partition), in the table and in SQL.
Weekly counts are aggregates and stay; only the persons with needs name anyone. A
PersonReset (an engineer's merge or split moved links away from the person) does the same,
and the events replayed after it, marked ``replayed-by``, note the person's needs again
under the key they now belong to without being counted twice (:func:`renote_place`). Like
every forwarded event, erasures and resets are skipped by a place that has folded their
source offset already, so a redelivered reset cannot undo the notes replayed after it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import AvroCodec
from schemas.models import ErasureRequest, PersonEvent, PersonReset
from streams.app import BackboneApp
from streams.headers import REPLAYED_BY, SOURCE_OFFSET, SOURCE_PARTITION, header
from streams.intake import DeadLetters, decode_each
from streams.store.views import ViewStore
from streams.stored import until_stored
from streams.tables import TableValue, changelog_partition_of, model_table
from streams.views import PlaceView, apply_place, renote_place

log = logging.getLogger(__name__)


class PlaceEntry(TableValue):
    """A place's view as the table keeps it.

    ``sources`` maps each person-events partition to the offset of the last event folded
    from it; ``partition`` is the place-events partition (and so the changelog partition)
    the place lives on.
    """

    view: PlaceView
    partition: int
    sources: Mapping[int, int] = {}


@dataclass
class _Batch:
    entries: dict[str, tuple[PlaceEntry, Any]] = field(default_factory=dict)
    failed: list[tuple[Any, Exception]] = field(default_factory=list)


def _source(message: Any) -> tuple[int, int]:
    """Where a forwarded event was on person-events: (partition, offset)."""
    partition, offset = header(message, SOURCE_PARTITION), header(message, SOURCE_OFFSET)
    if partition is None or offset is None:
        raise ValueError("a place event does not say where it was on person-events")
    return int(partition), int(offset)


class PlaceViews:
    """The agent's state and steps; :func:`register` puts it on an app."""

    def __init__(
        self, app: BackboneApp, *, codec: AvroCodec, views: ViewStore, dead_letters: DeadLetters
    ) -> None:
        self._codec = codec
        self._views = views
        self._dead_letters = dead_letters
        self.table = model_table(app, "place-views", PlaceEntry)

    async def process(self, events: Sequence[Any]) -> int:
        """Fold a batch of Faust events; returns how many places changed."""
        batch = _Batch()
        for event, message in await decode_each(
            events, self._codec, (PersonEvent, PersonReset), self._dead_letters
        ):
            try:
                self._fold(batch, event, message)
            except (KeyError, TypeError, ValueError) as exc:
                batch.failed.append((event, exc))
        for event, error in batch.failed:
            await self._dead_letters.send(event.message, error)
        places = {place_id: entry.view for place_id, (entry, _) in batch.entries.items()}
        await until_stored("place views write", self._views.apply_batch, {}, places, [])
        for place_id, (entry, event) in batch.entries.items():
            with changelog_partition_of(event):
                self.table[place_id] = entry
        return len(batch.entries)

    def _fold(self, batch: _Batch, event: Any, message: PersonEvent | PersonReset) -> None:
        source = _source(event.message)
        if isinstance(message, PersonReset) or isinstance(message.event, ErasureRequest):
            self._forget(batch, event, message.person_key, source)
            return
        place = message.event.place
        if place is None:
            raise ValueError("a place event names no place")
        entry = self._entry(batch, place.place_id)
        if entry is not None and entry.sources.get(source[0], -1) >= source[1]:
            return
        fold = renote_place if header(event.message, REPLAYED_BY) else apply_place
        view = fold(
            entry.view if entry else None, place.place_id, message.person_key, message.event
        )
        batch.entries[place.place_id] = (
            PlaceEntry(
                view=view,
                partition=event.message.partition,
                sources=_advanced(entry, source),
            ),
            event,
        )

    def _forget(self, batch: _Batch, event: Any, person_key: str, source: tuple[int, int]) -> None:
        """Remove ``person_key`` from every place of this event's partition that has not
        seen ``source`` yet."""
        partition = event.message.partition
        place_ids = {*self.table.keys(), *batch.entries}
        for place_id in sorted(place_ids):
            entry = self._entry(batch, place_id)
            if entry is None or entry.partition != partition:
                continue
            if entry.sources.get(source[0], -1) >= source[1]:
                continue
            view = entry.view.erase(person_key)
            batch.entries[place_id] = (
                entry.model_copy(update={"view": view, "sources": _advanced(entry, source)}),
                event,
            )

    def _entry(self, batch: _Batch, place_id: str) -> PlaceEntry | None:
        if place_id in batch.entries:
            return batch.entries[place_id][0]
        found: PlaceEntry | None = self.table.get(place_id)
        return found


def _advanced(entry: PlaceEntry | None, source: tuple[int, int]) -> dict[int, int]:
    """``entry``'s last source offsets with ``source`` (partition, offset) folded."""
    return {**(entry.sources if entry else {}), source[0]: source[1]}


def register(
    app: BackboneApp, *, codec: AvroCodec, views: ViewStore, dead_letters: DeadLetters
) -> Any:
    """Add the place-view agent to ``app``; its table is ``place-views``."""
    place_views = PlaceViews(app, codec=codec, views=views, dead_letters=dead_letters)

    return app.batch_agent(
        app.raw_topic(app.topics_config.place_events), "place-view", place_views.process
    )
