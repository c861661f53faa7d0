"""Running a rule pack over a stream of events, purely: the backtest, and the agents' oracle.

:func:`replay_alerts` does what the rule agents do, in one process: the event-time clock
observes each event, the event is folded into its person's and its place's rule state, and
every state whose next moment the clock has passed is advanced. Running it over recorded
events shows what a pack would have raised before it goes live; the agents' tests compare
what reaches the alerts topic with it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from schemas.models import Alert, ErasureRequest, Handoff, PersonEvent
from streams.rules.clock import EventClock
from streams.rules.engine import (
    NO_COORDINATORS,
    advance_person,
    advance_place,
    next_due,
    on_person_event,
    on_place_event,
)
from streams.rules.pack import RulePack
from streams.rules.state import PersonRuleState, PlaceRuleState
from streams.views import PersonView, apply_handoff, apply_person

_Due = tuple[datetime, Literal["person", "place"], str]


def replay_alerts(
    events: Iterable[PersonEvent | Handoff],
    pack: RulePack,
    *,
    until: datetime | None = None,
    coordinators: Mapping[str, str] = NO_COORDINATORS,
) -> list[Alert]:
    """The alerts ``pack`` raises over ``events`` taken in the order given, in the order
    raised; ``until`` (wall time at the end of a backtest) moves the clock on last, so that
    absences after the final event are judged too."""
    replay = _Replay(pack, coordinators)
    for event in events:
        replay.take(event)
    if until is not None:
        replay.advance(until)
    return replay.alerts


class _Replay:
    """The states, views, clock and timers of one run."""

    def __init__(self, pack: RulePack, coordinators: Mapping[str, str]) -> None:
        self.pack = pack
        self.coordinators = coordinators
        self.clock = EventClock(allowed_lateness=pack.allowed_lateness)
        self.persons: dict[str, PersonRuleState] = {}
        self.places: dict[str, PlaceRuleState] = {}
        self.views: dict[str, PersonView] = {}
        self.timers: list[_Due] = []
        self.alerts: list[Alert] = []

    def take(self, event: PersonEvent | Handoff) -> None:
        key = event.person_key
        if isinstance(event, PersonEvent) and isinstance(event.event, ErasureRequest):
            self.persons.pop(key, None)
            self.views.pop(key, None)
            return
        at = event.occurred_at if isinstance(event, Handoff) else event.event.occurred_at
        self.clock = self.clock.observe(at)
        watermark = self._watermark()
        if isinstance(event, Handoff):
            self.views[key] = apply_handoff(self.views.get(key), event)
        else:
            self.views[key] = apply_person(self.views.get(key), key, event.event)
        person, raised = on_person_event(
            self.persons.get(key),
            event,
            self.pack,
            watermark,
            view=self.views[key],
            coordinators=self.coordinators,
        )
        self._keep_person(person, raised)
        if isinstance(event, PersonEvent) and event.event.place is not None:
            place_id = event.event.place.place_id
            place, raised = on_place_event(
                self.places.get(place_id),
                event,
                self.pack,
                watermark,
                coordinators=self.coordinators,
            )
            self._keep_place(place, raised)
        self._advance_due(watermark)

    def advance(self, wall_time: datetime) -> None:
        self.clock = self.clock.observe(wall_time)
        self._advance_due(self._watermark())

    def _watermark(self) -> datetime:
        watermark = self.clock.watermark
        assert watermark is not None  # the clock has observed a time
        return watermark

    def _advance_due(self, watermark: datetime) -> None:
        while self.timers and self.timers[0][0] <= watermark:
            _, kind, key = heapq.heappop(self.timers)
            if kind == "person" and key in self.persons:
                person, raised = advance_person(
                    self.persons[key],
                    self.pack,
                    watermark,
                    view=self.views.get(key),
                    coordinators=self.coordinators,
                )
                self._keep_person(person, raised)
            elif kind == "place":
                place, raised = advance_place(
                    self.places[key], self.pack, watermark, coordinators=self.coordinators
                )
                self._keep_place(place, raised)

    def _keep_person(self, state: PersonRuleState, raised: list[Alert]) -> None:
        self.persons[state.person_key] = state
        self.alerts.extend(raised)
        self._time(state, "person", state.person_key)

    def _keep_place(self, state: PlaceRuleState, raised: list[Alert]) -> None:
        self.places[state.place_id] = state
        self.alerts.extend(raised)
        self._time(state, "place", state.place_id)

    def _time(
        self, state: PersonRuleState | PlaceRuleState, kind: Literal["person", "place"], key: str
    ) -> None:
        due = next_due(state, self.pack)
        if due is not None:
            heapq.heappush(self.timers, (due, kind, key))
