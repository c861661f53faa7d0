"""Replays and arrival order: the same events give the same alerts, every time.

The property tests draw streams of events for two persons and a place and let each event
arrive up to just under the allowed lateness after its time, in any order that allows: no
event is late, so the alerts must be exactly those of the events in time order.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.models import Alert, ContactOutcome, PersonEvent
from streams.rules import (
    PersonRuleState,
    RulePack,
    default_rule_pack,
    load_rule_pack,
    on_person_event,
)
from streams.rules.clock import EventClock
from tests.rules.support import (
    DEFAULT_TEXT,
    OTHER,
    contact,
    days,
    ids,
    missed,
    run,
    volunteer_action,
)
from tests.views import builders
from tests.views.builders import PERSON, PLACE, TEAMS

#: The default pack with an hour's lateness, so that drawn arrival orders really differ.
HOUR_LATE = load_rule_pack(DEFAULT_TEXT.replace("allowed_lateness: 15m", "allowed_lateness: 1h"))
#: Thresholds low enough that short drawn streams fire every rule, spikes included.
SENSITIVE = load_rule_pack(
    DEFAULT_TEXT.replace("allowed_lateness: 15m", "allowed_lateness: 1h")
    .replace("at_least: 3", "at_least: 2")
    .replace("at_least: 5", "at_least: 2")
    .replace("baseline_periods: 4", "baseline_periods: 1")
    .replace("cooldown: 14d", "cooldown: 2d")
)
_AGENCIES = ("council", "nhs-trust", "housing-association")


@st.composite
def streams(draw: st.DrawFn) -> list[PersonEvent]:
    """Up to 40 events on a grid of quarter hours within ~10 weeks, clustered on a few days."""
    size = draw(st.integers(0, 40))
    events: list[PersonEvent] = []
    for n in range(1, size + 1):
        person = draw(st.sampled_from([PERSON, OTHER]))
        day = draw(st.one_of(st.integers(0, 6), st.integers(0, 70)))
        at = days(day) + timedelta(minutes=15 * draw(st.integers(0, 3)))
        common: dict[str, Any] = {
            "agency": draw(st.sampled_from(_AGENCIES)),
            "place": draw(st.sampled_from([None, {"place_id": PLACE}])),
        }
        kind = draw(st.sampled_from(["contact", "referral", "volunteer", "handoff"]))
        if kind == "contact":
            event: Any = builders.contact(
                n,
                at,
                team=draw(st.sampled_from(TEAMS)),
                outcome=draw(st.sampled_from(list(ContactOutcome))),
                **common,
            )
        elif kind == "referral":
            needs = draw(st.lists(st.sampled_from(["food", "housing"]), min_size=1, max_size=2))
            event = builders.referral(n, at, needs=needs, **common)
        elif kind == "volunteer":
            event = builders.volunteer_action(n, at, concern_raised=draw(st.booleans()), **common)
        else:
            status = draw(st.sampled_from(["accepted", "closed"]))
            event = builders.handoff_update(n, at, status=status, **common)
        events.append(PersonEvent.of(person, event))
    return events


@st.composite
def arrivals(draw: st.DrawFn, events: list[PersonEvent], pack: RulePack) -> list[PersonEvent]:
    """``events`` in an order where each arrives less than the allowed lateness after its time."""
    steps = int(pack.allowed_lateness / timedelta(minutes=1))
    delays = [timedelta(minutes=draw(st.integers(0, steps - 1))) for _ in events]
    order = sorted(range(len(events)), key=lambda i: events[i].event.occurred_at + delays[i])
    return [events[i] for i in order]


def in_time_order(events: list[PersonEvent]) -> list[PersonEvent]:
    return sorted(events, key=lambda e: (e.event.occurred_at, str(e.event.event_id)))


def judged(alerts: list[Alert]) -> set[tuple[object, ...]]:
    """Alerts without their teams, which follow the view at the time (ids do not)."""
    return {
        (a.alert_id, a.rule_id, a.subject, a.raised_at, a.explanation, a.evidence.model_dump_json())
        for a in alerts
    }


@settings(deadline=None, max_examples=150)
@given(events=streams(), pack=st.sampled_from([HOUR_LATE, SENSITIVE]), data=st.data())
def test_any_arrival_within_the_lateness_gives_the_same_alerts(
    events: list[PersonEvent], pack: RulePack, data: st.DataObject
) -> None:
    arrived = data.draw(arrivals(in_time_order(events), pack))

    expected = run(in_time_order(events), pack)
    alerts = run(arrived, pack)

    assert judged(alerts) == judged(expected)
    assert len(ids(alerts)) == len(alerts)


@settings(deadline=None, max_examples=100)
@given(events=streams(), pack=st.sampled_from([HOUR_LATE, SENSITIVE]), data=st.data())
def test_redelivered_events_raise_nothing_more(
    events: list[PersonEvent], pack: RulePack, data: st.DataObject
) -> None:
    ordered = in_time_order(events)
    again = data.draw(st.lists(st.sampled_from(ordered))) if ordered else []
    # Each redelivery comes straight after its first delivery, as after a crash mid-batch.
    redelivered = [e for event in ordered for e in [event] * (1 + again.count(event))]

    assert run(redelivered, pack) == run(ordered, pack)


def test_the_same_events_replayed_give_the_same_alert_ids() -> None:
    events = [
        missed(1, 0),
        missed(2, 3),
        volunteer_action(3, 4, concern_raised=True),
        contact(4, 5, agency="council"),
        contact(5, 6, agency="housing-association"),
    ]

    first, second = run(events), run(events)

    assert first == second
    assert {a.rule_id for a in first} == {
        "missed-contacts",
        "volunteer-concern",
        "many-services-no-lead",
        "gone-quiet",
    }


def test_alert_ids_do_not_depend_on_which_of_two_close_events_arrived_first() -> None:
    events = [missed(1, 3), missed(2, 3.005)]  # seven minutes apart, within the 15m lateness

    forwards, backwards = run(events, until=None), run(events[::-1], until=None)

    assert ids(forwards) == ids(backwards)


def test_state_restored_from_json_after_every_event_raises_the_same_alerts() -> None:
    """A worker that restarts from its table's changelog after each event raises no more."""
    pack = default_rule_pack()
    events = [
        missed(1, 0),
        missed(2, 3),
        volunteer_action(3, 4, concern_raised=True),
        contact(4, 5, agency="council"),
        contact(5, 6, agency="housing-association"),
        contact(6, 30, person=PERSON),
    ]

    def fold(restart: bool) -> list[str]:
        clock = EventClock(allowed_lateness=pack.allowed_lateness)
        state: PersonRuleState | None = None
        raised: list[str] = []
        for event in events:
            clock = clock.observe(event.event.occurred_at)
            assert clock.watermark is not None
            state, alerts = on_person_event(state, event, pack, clock.watermark)
            raised += [a.alert_id for a in alerts]
            if restart:
                state = PersonRuleState.model_validate_json(state.model_dump_json())
        return raised

    assert fold(restart=True) == fold(restart=False)
    assert len(fold(restart=False)) == 4


def test_event_ids_are_the_alert_ids_ingredients() -> None:
    alerts = run([missed(1, 0), missed(2, 1)])
    alert = alerts[0]

    assert alert.evidence.event_ids == [str(UUID(int=1)), str(UUID(int=2))]
    assert len(alert.alert_id) == 32
