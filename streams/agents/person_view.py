"""The person-view agent: each person's view in a Faust table, copied to the SQL store.

It reads person-events (keyed by person key, so one person's events arrive in order on one
partition) and folds each into the person's view with :func:`streams.views.apply_person`.

**Effectively once.** Faust replays what arrived since its last commit after a crash, and
the table's changelog may already hold some of it. Each table entry therefore carries the
offset of the last event folded into it, and an event at or below that offset is skipped:
exact, whatever the fold's own window of recent ids would catch. Per batch, events go on to
places first, then the SQL store is written, then the table, so a crash between any two
replays the batch into the older table value: the views come out the same, and what goes
on again to places carries the same offsets, by which the place agent skips it.

**Erasure.** An ErasureRequest (identity resolution has already forgotten the person)
deletes the view from the table, which writes a tombstone to its changelog, and from the
SQL store, and marks the key erased in a second table, so that events already resolved to
the key and still in flight are dropped rather than starting the view again. It also goes
to every partition of place-events, since any place may name the person.

**Merges and splits.** A PersonReset (an engineer's decision moved links away from the person)
empties the person's entry (kept, with its offset, so a redelivered older event cannot refill
it) and drops the SQL view; the events replayed after it, marked ``replayed-by``, rebuild it,
and their SQL records move to the key they now belong to. The reset goes to every partition
of place-events, as an erasure does, and each replayed event with a place goes on marked too,
news or not, so that places note the person's needs under the new key without counting the
event again.

**Places.** Every other event that names a place goes on to place-events, keyed by place id,
as it came, with the partition and offset it had here: the place agent skips what it has
folded already by those.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from schemas.codec import AvroCodec
from schemas.models import ErasureRequest, PersonEvent, PersonReset
from streams.app import BackboneApp
from streams.headers import REPLAYED_BY, SOURCE_OFFSET, SOURCE_PARTITION, header
from streams.intake import DeadLetters, decode_each
from streams.store.views import ViewStore
from streams.stored import until_stored
from streams.tables import TableValue, changelog_partition_of, model_table
from streams.views import PersonView, apply_person

log = logging.getLogger(__name__)


class PersonEntry(TableValue):
    """A person's view as the table keeps it, with the offset of the last event folded; no
    view after a merge or a split reset it and nothing rebuilt it."""

    view: PersonView | None
    offset: int


class ErasedEntry(TableValue):
    """An erased person key, with the offset of its erasure."""

    offset: int


@dataclass
class _Batch:
    """What one batch changes: table entries, erasures, SQL event ids, forwards."""

    entries: dict[str, tuple[PersonEntry, Any]] = field(default_factory=dict)
    erased: dict[str, Any] = field(default_factory=dict)
    event_ids: list[tuple[UUID, str]] = field(default_factory=list)
    replayed: list[tuple[UUID, str]] = field(default_factory=list)
    #: (Faust event, the place it goes to; None: every partition of place-events).
    forwards: list[tuple[Any, str | None]] = field(default_factory=list)
    failed: list[tuple[Any, Exception]] = field(default_factory=list)


class PersonViews:
    """The agent's state and steps; :func:`register` puts it on an app."""

    def __init__(
        self,
        app: BackboneApp,
        *,
        codec: AvroCodec,
        views: ViewStore,
        place_events: Any,
        dead_letters: DeadLetters,
    ) -> None:
        self._codec = codec
        self._views = views
        self._place_events = place_events
        self._dead_letters = dead_letters
        self._place_partitions = app.topics_config.partitions
        self.table = model_table(app, "person-views", PersonEntry)
        self.erased = model_table(app, "erased-persons", ErasedEntry)

    async def process(self, events: Sequence[Any]) -> int:
        """Fold a batch of Faust events; returns how many were folded, erased or reset."""
        decoded = await decode_each(
            events, self._codec, (PersonEvent, PersonReset), self._dead_letters
        )
        event_ids = [
            message.event.event_id for _, message in decoded if isinstance(message, PersonEvent)
        ]
        applied = await until_stored("person views read", self._views.applied, event_ids)
        batch = self._fold(decoded, applied)
        for event, error in batch.failed:
            await self._dead_letters.send(event.message, error)
        await self._forward(batch)
        await until_stored("person views write", self._store, batch)
        self._write_tables(batch)
        return len(batch.event_ids) + len(batch.replayed) + len(batch.erased)

    def _fold(
        self, decoded: Sequence[tuple[Any, PersonEvent | PersonReset]], applied: Set[UUID]
    ) -> _Batch:
        """Fold ``decoded`` in order; ``applied`` are the ids the SQL store has folded.

        An event goes on to its place only if it is news: not folded in SQL already and not
        recognised by the fold. Upstream stages replay too, and their copies come at new
        offsets, which the place agent could not tell from new events.
        """
        batch = _Batch()
        for event, message in decoded:
            key, offset = message.person_key, event.message.offset
            if key in batch.erased or key in self.erased:
                log.debug("dropped an event of an erased person")
                continue
            entry = batch.entries[key][0] if key in batch.entries else self.table.get(key)
            if entry is not None and offset <= entry.offset:
                continue
            if isinstance(message, PersonReset):
                batch.entries[key] = (PersonEntry(view=None, offset=offset), event)
                batch.forwards.append((event, None))
            elif isinstance(message.event, ErasureRequest):
                batch.entries.pop(key, None)
                batch.erased[key] = event
                batch.forwards.append((event, None))
            else:
                self._fold_event(batch, event, message, entry, applied)
        return batch

    @staticmethod
    def _fold_event(
        batch: _Batch,
        event: Any,
        person_event: PersonEvent,
        entry: PersonEntry | None,
        applied: Set[UUID],
    ) -> None:
        key, before = person_event.person_key, entry.view if entry else None
        try:
            view = apply_person(before, key, person_event.event)
        except (TypeError, ValueError) as exc:
            batch.failed.append((event, exc))
            return
        batch.entries[key] = (PersonEntry(view=view, offset=event.message.offset), event)
        event_id = person_event.event.event_id
        replayed = header(event.message, REPLAYED_BY) is not None
        (batch.replayed if replayed else batch.event_ids).append((event_id, key))
        news = event_id not in applied and view is not before
        place = person_event.event.place
        if (news or replayed) and place is not None:
            batch.forwards.append((event, place.place_id))

    def _store(self, batch: _Batch) -> None:
        persons = {
            key: entry.view for key, (entry, _) in batch.entries.items() if entry.view is not None
        }
        dropped = {key for key, (entry, _) in batch.entries.items() if entry.view is None}
        self._views.apply_batch(
            persons, {}, batch.event_ids, replayed=batch.replayed, dropped=dropped
        )
        for key in batch.erased:
            self._views.erase(key)

    def _write_tables(self, batch: _Batch) -> None:
        for key, (entry, event) in batch.entries.items():
            with changelog_partition_of(event):
                self.table[key] = entry
        for key, event in batch.erased.items():
            with changelog_partition_of(event):
                if key in self.table:
                    del self.table[key]
                self.erased[key] = ErasedEntry(offset=event.message.offset)

    async def _forward(self, batch: _Batch) -> None:
        """Send the batch's events on to places and wait until the broker has them all.

        A send only queues the message; were SQL written before delivery, a crash could lose
        the queued sends while SQL says the events were folded, and the replay would not
        send them again.
        """
        sent = []
        for event, place_id in batch.forwards:
            message = event.message
            headers = [
                (SOURCE_PARTITION, str(message.partition).encode()),
                (SOURCE_OFFSET, str(message.offset).encode()),
            ]
            decision = header(message, REPLAYED_BY)
            if decision is not None:
                headers.append((REPLAYED_BY, decision))
            targets: list[tuple[bytes | None, int | None]]
            if place_id is None:
                targets = [(message.key, p) for p in range(self._place_partitions)]
            else:
                targets = [(place_id.encode(), None)]
            for key, partition in targets:
                sent.append(
                    await self._place_events.send(
                        key=key, value=message.value, partition=partition, headers=headers
                    )
                )
        await asyncio.gather(*sent)


def register(
    app: BackboneApp,
    *,
    codec: AvroCodec,
    views: ViewStore,
    place_events: Any,
    dead_letters: DeadLetters,
) -> Any:
    """Add the person-view agent to ``app``; its tables are ``person-views`` and
    ``erased-persons``."""
    person_views = PersonViews(
        app, codec=codec, views=views, place_events=place_events, dead_letters=dead_letters
    )

    return app.batch_agent(
        app.raw_topic(app.topics_config.person_events), "person-view", person_views.process
    )
