"""The rules agents: each person's and each place's rule state in a Faust table, the alerts
they raise on the alerts topic and in the SQL store.

Two agents over the pure engine (:mod:`streams.rules`), which :func:`streams.rules.replay_alerts`
runs in one process and these agents must match:

- **person-rules** reads person-events (keyed by person key, one person's events in order on
  one partition) into :class:`~streams.rules.PersonRuleState` in the table ``person-rules``.
  For routing it folds the person's own view with :func:`streams.views.apply_person` into the
  same entry, rather than reading the person-view agent's table: the two agents read the
  topic independently, so that table could be ahead of or behind the event being judged,
  and the teams an alert names would depend on timing. The fold here sees exactly what the
  oracle sees.
- **place-rules** reads place-events (person events that name a place, forwarded by the
  person-view agent keyed by place id) into :class:`~streams.rules.PlaceRuleState` in the
  table ``place-rules``. Events marked ``replayed-by`` (an engineer's merge or split replaying
  a person's events under a new key) were counted already and are skipped, as are
  PersonResets and erasures: place states name no person.

**The event-time clock** is one :class:`WorkerClock` per worker, shared by both agents: every
event's ``occurred_at`` moves it on (it never goes back, and a replayed event's old time
does not move it). It is kept nowhere: after a restart it starts empty and is rebuilt by the
events that arrive, while each state remembers how far it has been judged
(``evaluated_until``), so nothing is judged twice. It is **per worker**: with several
workers, each one's clock follows only the events of the partitions it holds; the clock is
not broadcast between workers (yet), so an absence on one worker's partitions is noticed
when an event on that worker passes its deadline. Wall time does not move the clock yet.

**Absences.** Each entry keeps the moment it is next due (:func:`streams.rules.next_due`). After
each batch, and every second on a timer, every entry of the partitions this worker holds
that the clock has passed is advanced (:func:`streams.rules.advance_person`,
:func:`streams.rules.advance_place`): a deadline is noticed within about a second of the
event that moves the clock past it, whichever partition of this worker that event came on.
The timer and the agents take turns through one lock, so an advance never writes over a
batch half done.

**Effectively once.** Faust runs at least once; alert ids are deterministic (rule, subject,
triggering event ids), each state remembers what its rules raised, and
:meth:`~streams.store.AlertStore.record` skips an id it has. Per batch (and per timer tick)
the alerts are sent and their delivery awaited, then recorded in SQL, then the tables are
written: a crash between two steps replays the batch into the older states, which raise
the same alerts with the same ids, sent again (consumers key on the id) and not recorded
twice. As in the view agents, each person entry keeps the offset of the last event folded
and each place entry the last source offset per person-events partition; an event at or
below is skipped.

**Erasure and resets.** An ErasureRequest deletes the person's rule state and view; the entry
keeps only that the key is erased (and its offset), so events already resolved to it and
still in flight do not start a new state. A PersonReset (an engineer's merge or split moved
links away from the person) drops the person's activity, handoffs, place and view but keeps
the rule records and how far the state was judged: the events replayed after it (marked
``replayed-by``) refill it and, raising the same alert ids as before, raise nothing new.

Not done here: closing a rule's open alert when a team resolves it
(:meth:`~streams.store.AlertStore.resolved_since` with :func:`streams.rules.close_alert`),
routing's Handoff messages, and the directory of place coordinators (``coordinators`` is
empty unless given).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from schemas.codec import AvroCodec
from schemas.models import Alert, ErasureRequest, PersonEvent, PersonReset
from streams.app import BackboneApp
from streams.headers import REPLAYED_BY, SOURCE_OFFSET, SOURCE_PARTITION, header
from streams.intake import DeadLetters, decode_each
from streams.rules import (
    EventClock,
    PersonRuleState,
    PlaceRuleState,
    RulePack,
    advance_person,
    advance_place,
    next_due,
    on_person_event,
    on_place_event,
)
from streams.rules.engine import NO_COORDINATORS
from streams.store.alerts import AlertStore
from streams.stored import until_stored
from streams.tables import TableValue, changelog_partition_of, model_table
from streams.views import PersonView, apply_person

log = logging.getLogger(__name__)

#: How often the timer advances states the clock has passed, in seconds.
TICK = 1.0


class WorkerClock:
    """The event-time clock of this worker, shared by its rules agents; kept nowhere."""

    def __init__(self, allowed_lateness: timedelta) -> None:
        self._clock = EventClock(allowed_lateness=allowed_lateness)

    def observe(self, at: datetime) -> None:
        self._clock = self._clock.observe(at)

    @property
    def watermark(self) -> datetime | None:
        return self._clock.watermark


class PersonRulesEntry(TableValue):
    """A person's rule state and view as the table keeps them.

    ``offset`` is that of the last event folded; ``partition`` the person-events partition
    (and changelog partition) the person lives on; ``due`` the next moment to judge. An
    erased person keeps only ``erased`` and the offset.
    """

    state: PersonRuleState | None
    view: PersonView | None
    offset: int
    partition: int
    due: datetime | None = None
    erased: bool = False


class PlaceRulesEntry(TableValue):
    """A place's rule state as the table keeps it, with the last offset folded from each
    person-events partition (``sources``) and the place-events partition it lives on."""

    state: PlaceRuleState
    partition: int
    sources: Mapping[int, int] = {}
    due: datetime | None = None


@dataclass
class _Batch:
    """What one batch (or timer tick) changes: entries with the partition they live on, and
    the alerts raised, in order."""

    entries: dict[str, tuple[Any, int]] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    failed: list[tuple[Any, Exception]] = field(default_factory=list)


class _Partition:
    """Stands in for a Faust event of ``partition``, so that a table write outside a stream
    (the timer) goes to that changelog partition."""

    def __init__(self, topic: str, partition: int) -> None:
        self.message = SimpleNamespace(topic=topic, partition=partition)


class _RulesAgent:
    """What both agents share: the clock, the lock, and how a batch is published."""

    def __init__(
        self,
        app: BackboneApp,
        source: str,
        *,
        codec: AvroCodec,
        pack: RulePack,
        clock: WorkerClock,
        lock: asyncio.Lock,
        alerts: Any,
        store: AlertStore,
        dead_letters: DeadLetters,
        coordinators: Mapping[str, str],
    ) -> None:
        self._app = app
        self._source = source
        self._codec = codec
        self.pack = pack
        self.clock = clock
        self._lock = lock
        self._alerts = alerts
        self._store = store
        self._dead_letters = dead_letters
        self.coordinators = coordinators
        self.table: Any = None

    def _entry(self, batch: _Batch, key: str) -> Any:
        if key in batch.entries:
            return batch.entries[key][0]
        return self.table.get(key)

    async def _publish(self, batch: _Batch) -> None:
        """Dead letters, then alerts to the broker (delivery awaited), SQL, and the tables."""
        for event, error in batch.failed:
            await self._dead_letters.send(event.message, error)
        sent = [
            await self._alerts.send(key=alert.subject.encode(), value=self._codec.encode(alert))
            for alert in batch.alerts
        ]
        await asyncio.gather(*sent)
        await until_stored("alerts write", self._store.record, batch.alerts)
        for key, (entry, partition) in batch.entries.items():
            with changelog_partition_of(_Partition(self._source, partition)):
                self.table[key] = entry

    def _held(self) -> set[int]:
        """The partitions of the source topic this worker holds (not standbys)."""
        return {
            tp.partition for tp in self._app.assignor.assigned_actives() if tp.topic == self._source
        }

    def _advance_due(self, batch: _Batch, partitions: set[int]) -> None:
        """Advance every entry of ``partitions`` that the clock has passed."""
        watermark = self.clock.watermark
        if watermark is None:
            return
        keys = {*self.table.keys(), *batch.entries}
        for key in sorted(keys):
            entry = self._entry(batch, key)
            if entry is None or entry.due is None or entry.due > watermark:
                continue
            if entry.partition not in partitions:
                continue
            self._advance(batch, key, entry, watermark)

    async def process(self, events: Sequence[Any]) -> int:
        """Fold a batch of Faust events; returns how many entries changed."""
        decoded = await decode_each(
            events, self._codec, (PersonEvent, PersonReset), self._dead_letters
        )
        async with self._lock:
            batch = _Batch()
            for event, message in decoded:
                try:
                    self._fold(batch, event, message)
                except (KeyError, TypeError, ValueError) as exc:
                    batch.failed.append((event, exc))
            held = self._held() | {event.message.partition for event, _ in decoded}
            self._advance_due(batch, held)
            await self._publish(batch)
        return len(batch.entries)

    def _fold(self, batch: _Batch, event: Any, message: PersonEvent | PersonReset) -> None:
        raise NotImplementedError

    def _advance(self, batch: _Batch, key: str, entry: Any, watermark: datetime) -> None:
        raise NotImplementedError

    async def tick(self) -> None:
        """The timer's step: advance what the clock has passed, never raising (an exception
        in a timer would stop the worker)."""
        try:
            async with self._lock:
                batch = _Batch()
                self._advance_due(batch, self._held())
                if batch.entries:
                    await self._publish(batch)
        except Exception:
            log.exception("advancing rule states failed; trying again on the next tick")


class PersonRules(_RulesAgent):
    """The person-rules agent's state and steps."""

    def __init__(self, app: BackboneApp, **kwargs: Any) -> None:
        super().__init__(app, app.topics_config.person_events, **kwargs)
        self.table = model_table(app, "person-rules", PersonRulesEntry)

    def _fold(self, batch: _Batch, event: Any, message: PersonEvent | PersonReset) -> None:
        key, offset, partition = message.person_key, event.message.offset, event.message.partition
        entry: PersonRulesEntry | None = self._entry(batch, key)
        if entry is not None and (entry.erased or offset <= entry.offset):
            return
        if isinstance(message, PersonReset):
            state = None if entry is None else _reset(entry.state)
            reset = PersonRulesEntry(
                state=state,
                view=None,
                offset=offset,
                partition=partition,
                due=None if state is None else next_due(state, self.pack),
            )
            batch.entries[key] = (reset, partition)
            return
        if isinstance(message.event, ErasureRequest):
            erased = PersonRulesEntry(
                state=None, view=None, offset=offset, partition=partition, erased=True
            )
            batch.entries[key] = (erased, partition)
            return
        self.clock.observe(message.event.occurred_at)
        watermark = self.clock.watermark
        assert watermark is not None  # reason: observed just now
        view = apply_person(entry.view if entry else None, key, message.event)
        state, raised = on_person_event(
            entry.state if entry else None,
            message,
            self.pack,
            watermark,
            view=view,
            coordinators=self.coordinators,
        )
        folded = PersonRulesEntry(
            state=state,
            view=view,
            offset=offset,
            partition=partition,
            due=next_due(state, self.pack),
        )
        batch.entries[key] = (folded, partition)
        batch.alerts.extend(raised)

    def _advance(self, batch: _Batch, key: str, entry: Any, watermark: datetime) -> None:
        if entry.state is None:
            return
        state, raised = advance_person(
            entry.state, self.pack, watermark, view=entry.view, coordinators=self.coordinators
        )
        advanced = entry.model_copy(update={"state": state, "due": next_due(state, self.pack)})
        batch.entries[key] = (advanced, entry.partition)
        batch.alerts.extend(raised)


def _reset(state: PersonRuleState | None) -> PersonRuleState | None:
    """``state`` without the person's activity, handoffs and place: what they did is about to
    be replayed under the keys it now belongs to; what the rules raised stays."""
    if state is None:
        return None
    return state.model_copy(update={"activity": (), "handoffs": (), "place": None})


class PlaceRules(_RulesAgent):
    """The place-rules agent's state and steps."""

    def __init__(self, app: BackboneApp, **kwargs: Any) -> None:
        super().__init__(app, app.topics_config.place_events, **kwargs)
        self.table = model_table(app, "place-rules", PlaceRulesEntry)

    def _fold(self, batch: _Batch, event: Any, message: PersonEvent | PersonReset) -> None:
        if isinstance(message, PersonReset) or isinstance(message.event, ErasureRequest):
            return
        if header(event.message, REPLAYED_BY) is not None:
            return
        source = _source(event.message)
        place = message.event.place
        if place is None:
            raise ValueError("a place event names no place")
        entry: PlaceRulesEntry | None = self._entry(batch, place.place_id)
        if entry is not None and entry.sources.get(source[0], -1) >= source[1]:
            return
        self.clock.observe(message.event.occurred_at)
        watermark = self.clock.watermark
        assert watermark is not None  # reason: observed just now
        state, raised = on_place_event(
            entry.state if entry else None,
            message,
            self.pack,
            watermark,
            coordinators=self.coordinators,
        )
        partition = event.message.partition
        folded = PlaceRulesEntry(
            state=state,
            partition=partition,
            sources={**(entry.sources if entry else {}), source[0]: source[1]},
            due=next_due(state, self.pack),
        )
        batch.entries[place.place_id] = (folded, partition)
        batch.alerts.extend(raised)

    def _advance(self, batch: _Batch, key: str, entry: Any, watermark: datetime) -> None:
        state, raised = advance_place(
            entry.state, self.pack, watermark, coordinators=self.coordinators
        )
        advanced = entry.model_copy(update={"state": state, "due": next_due(state, self.pack)})
        batch.entries[key] = (advanced, entry.partition)
        batch.alerts.extend(raised)


def _source(message: Any) -> tuple[int, int]:
    """Where a forwarded event was on person-events: (partition, offset)."""
    partition, offset = header(message, SOURCE_PARTITION), header(message, SOURCE_OFFSET)
    if partition is None or offset is None:
        raise ValueError("a place event does not say where it was on person-events")
    return int(partition), int(offset)


@dataclass(frozen=True)
class RulesAgents:
    """The two agents registered on an app, and their steps (for tests)."""

    person: Any
    place: Any
    person_rules: PersonRules
    place_rules: PlaceRules
    clock: WorkerClock
    tick: Callable[[], Awaitable[None]]


def register(
    app: BackboneApp,
    *,
    codec: AvroCodec,
    pack: RulePack,
    alerts: Any,
    store: AlertStore,
    dead_letters: DeadLetters,
    coordinators: Mapping[str, str] = NO_COORDINATORS,
    tick: float | None = TICK,
) -> RulesAgents:
    """Add the person-rules and place-rules agents (tables ``person-rules`` and
    ``place-rules``) to ``app``, sharing one clock, and a timer every ``tick`` seconds
    (None: no timer) that advances the states the clock has passed."""
    clock = WorkerClock(pack.allowed_lateness)
    shared: dict[str, Any] = {
        "codec": codec,
        "pack": pack,
        "clock": clock,
        "lock": asyncio.Lock(),
        "alerts": alerts,
        "store": store,
        "dead_letters": dead_letters,
        "coordinators": coordinators,
    }
    person_rules = PersonRules(app, **shared)
    place_rules = PlaceRules(app, **shared)

    async def advance() -> None:
        await person_rules.tick()
        await place_rules.tick()

    if tick is not None:
        app.timer(tick, name="rules-clock")(advance)
    topics = app.topics_config
    return RulesAgents(
        person=app.batch_agent(
            app.raw_topic(topics.person_events), "person-rules", person_rules.process
        ),
        place=app.batch_agent(
            app.raw_topic(topics.place_events), "place-rules", place_rules.process
        ),
        person_rules=person_rules,
        place_rules=place_rules,
        clock=clock,
        tick=advance,
    )
