"""The place-view agent: each place's view in a Faust table, copied to the SQL store.

It reads place-events: person events that name a place, keyed by place id and forwarded by
the person-view agent with the partition and offset each had on person-events. A place
hears from every partition of person-events, each in order, so its table entry keeps the
last offset folded from each, and an event at or below it (re-forwarded after a crash of
the person-view agent) is skipped. As for persons, SQL is written before the table.

An ErasureRequest arrives on every partition; each removes the person from the places of
its own partition (those whose changelog is that partition), in the table and in SQL.
Weekly counts are aggregates and stay; only the persons with needs name anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import AvroCodec
from schemas.models import ErasureRequest, PersonEvent
from streams.agents.person_view import SOURCE_OFFSET, SOURCE_PARTITION
from streams.app import BackboneApp
from streams.intake import DeadLetters, decode_each
from streams.store.views import ViewStore
from streams.stored import until_stored
from streams.tables import TableValue, changelog_partition_of, model_table
from streams.views import PlaceView, apply_place

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
    headers = message.headers
    pairs = dict(headers.items() if isinstance(headers, Mapping) else headers or [])
    return int(pairs[SOURCE_PARTITION]), int(pairs[SOURCE_OFFSET])


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
        for event, person_event in await decode_each(
            events, self._codec, PersonEvent, self._dead_letters
        ):
            try:
                self._fold(batch, event, person_event)
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

    def _fold(self, batch: _Batch, event: Any, person_event: PersonEvent) -> None:
        message = event.message
        if isinstance(person_event.event, ErasureRequest):
            self._erase(batch, event, person_event.person_key)
            return
        place = person_event.event.place
        if place is None:
            raise ValueError("a place event names no place")
        source_partition, source_offset = _source(message)
        entry = self._entry(batch, place.place_id)
        if entry is not None and entry.sources.get(source_partition, -1) >= source_offset:
            return
        view = apply_place(
            entry.view if entry else None,
            place.place_id,
            person_event.person_key,
            person_event.event,
        )
        sources = {**(entry.sources if entry else {}), source_partition: source_offset}
        batch.entries[place.place_id] = (
            PlaceEntry(view=view, partition=message.partition, sources=sources),
            event,
        )

    def _erase(self, batch: _Batch, event: Any, person_key: str) -> None:
        """Remove ``person_key`` from every place of this event's partition."""
        partition = event.message.partition
        place_ids = {*self.table.keys(), *batch.entries}
        for place_id in sorted(place_ids):
            entry = self._entry(batch, place_id)
            if entry is None or entry.partition != partition:
                continue
            erased = entry.view.erase(person_key)
            if erased is not entry.view:
                batch.entries[place_id] = (entry.model_copy(update={"view": erased}), event)

    def _entry(self, batch: _Batch, place_id: str) -> PlaceEntry | None:
        if place_id in batch.entries:
            return batch.entries[place_id][0]
        found: PlaceEntry | None = self.table.get(place_id)
        return found


def register(
    app: BackboneApp, *, codec: AvroCodec, views: ViewStore, dead_letters: DeadLetters
) -> Any:
    """Add the place-view agent to ``app``; its table is ``place-views``."""
    place_views = PlaceViews(app, codec=codec, views=views, dead_letters=dead_letters)

    return app.batch_agent(
        app.raw_topic(app.topics_config.place_events), "place-view", place_views.process
    )
