"""The engine's mechanics: waiting for the clock, late events, one open alert, cooldown,
routing, erasure, and state that stays small and survives JSON."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from schemas.models import Alert, PersonEvent
from streams.rules import (
    PersonRuleState,
    PlaceRuleState,
    advance_person,
    close_alert,
    default_rule_pack,
    load_rule_pack,
    next_due,
    on_person_event,
    on_place_event,
)
from streams.views import ErasureNotFoldedError, PersonView, apply_person
from tests.rules.support import (
    OTHER,
    contact,
    days,
    food_referral,
    missed,
    of,
    raised,
    run,
    volunteer_action,
)
from tests.views import builders
from tests.views.builders import PERSON, PLACE

PACK = default_rule_pack()


def fold(
    events: list[PersonEvent], watermark: datetime | None = None
) -> tuple[PersonRuleState, list[Alert]]:
    """Fold ``events`` one by one, each judged up to ``watermark`` (else its own time)."""
    state: PersonRuleState | None = None
    alerts: list[Alert] = []
    for event in events:
        state, found = on_person_event(state, event, PACK, watermark or event.event.occurred_at)
        alerts += found
    assert state is not None
    return state, alerts


def test_a_moment_is_judged_only_once_the_watermark_passes_it() -> None:
    concern = volunteer_action(1, 3, concern_raised=True)

    state, alerts = on_person_event(None, concern, PACK, days(3) - timedelta(minutes=15))
    assert alerts == []
    assert next_due(state, PACK) == days(3)

    state, alerts = advance_person(state, PACK, days(3))
    assert [alert.rule_id for alert in alerts] == ["volunteer-concern"]
    # What is left is gone-quiet's deadline for the silence after day 3.
    assert next_due(state, PACK) == days(13)


def test_a_late_event_is_judged_when_it_arrives() -> None:
    state, alerts = fold([missed(2, 5), contact(3, 10)])
    assert alerts == []

    # Day 1's miss arrives after the clock passed day 5: the moment of day 5 is judged again.
    state, alerts = on_person_event(state, missed(1, 1), PACK, days(10))

    assert [(a.rule_id, a.raised_at) for a in alerts] == [("missed-contacts", days(5))]


def test_an_event_older_than_the_horizon_is_ignored() -> None:
    state, _ = fold([contact(1, 100)])

    again, alerts = on_person_event(state, missed(2, 10), PACK, days(100))

    assert again is state
    assert alerts == []


def test_a_redelivered_event_changes_nothing() -> None:
    state, _ = fold([volunteer_action(1, 3, concern_raised=True)])

    again, alerts = on_person_event(
        state, volunteer_action(1, 3, concern_raised=True), PACK, days(3)
    )

    assert again is state
    assert alerts == []


def test_a_closed_alert_lets_the_rule_raise_again_after_its_cooldown() -> None:
    state, alerts = fold([missed(1, 0), missed(2, 1)])
    assert len(alerts) == 1
    first = alerts[0]
    assert state.record("missed-contacts").open_alert == first.alert_id

    state = close_alert(state, "missed-contacts", first.alert_id)
    state, within_cooldown = on_person_event(state, missed(3, 5), PACK, days(5))
    state, after_cooldown = on_person_event(state, missed(4, 15), PACK, days(15))

    assert within_cooldown == []
    assert [a.raised_at for a in after_cooldown] == [days(15)]
    assert after_cooldown[0].alert_id != first.alert_id


def test_an_open_alert_holds_back_the_rule_however_long_it_waits() -> None:
    _, alerts = fold([missed(1, 0), missed(2, 1), missed(3, 40), missed(4, 41)])

    assert [a.raised_at for a in alerts] == [days(1)]


def test_closing_another_alert_changes_nothing() -> None:
    state, _ = fold([missed(1, 0), missed(2, 1)])

    assert close_alert(state, "missed-contacts", "not-this-one") is state
    assert close_alert(state, "gone-quiet", "not-this-one") is state


def test_alerts_go_to_the_teams_seen_lately_most_recent_first() -> None:
    events = [
        contact(1, 0, team="housing-options"),
        missed(2, 10, team="district-nursing"),
        missed(3, 11, team="adult-social-care"),
    ]
    view: PersonView | None = None
    for event in events:
        view = apply_person(view, PERSON, event.event)

    state, _ = fold(events[:2])
    _, alerts = on_person_event(state, events[2], PACK, days(11), view=view)

    assert alerts[0].teams == ["adult-social-care", "district-nursing", "housing-options"]


def test_without_teams_an_alert_goes_to_the_coordinator_of_the_persons_place() -> None:
    events = [volunteer_action(1, 3, concern_raised=True, place={"place_id": PLACE})]

    with_coordinator = run(events, coordinators={PLACE: "community-coordination"})
    without = run(events)

    assert raised(with_coordinator, "volunteer-concern")[0].teams == ["community-coordination"]
    assert raised(without, "volunteer-concern")[0].teams == []


def test_an_erasure_is_not_folded_but_deletes_the_state() -> None:
    state, _ = fold([contact(1, 0)])
    erasure = of(builders.erasure(2, days(1)))

    with pytest.raises(ErasureNotFoldedError):
        on_person_event(state, erasure, PACK, days(1))
    # The oracle deletes the state: the concern before the erasure is forgotten with it.
    events = [missed(1, 0), erasure, missed(3, 2)]
    assert raised(run(events), "missed-contacts") == []


def test_another_subjects_event_is_refused() -> None:
    state, _ = fold([contact(1, 0)])
    place_state, _ = on_place_event(None, food_referral(2, 0), PACK, days(0))

    with pytest.raises(ValueError, match="another person"):
        on_person_event(state, contact(3, 1, person=OTHER), PACK, days(1))
    with pytest.raises(ValueError, match="names no place"):
        on_place_event(place_state, contact(4, 1), PACK, days(1))
    elsewhere = contact(5, 1, place={"place_id": "E01000002"})
    with pytest.raises(ValueError, match="another place"):
        on_place_event(place_state, elsewhere, PACK, days(1))


def test_state_keeps_only_the_horizon_of_activity() -> None:
    state, _ = fold([contact(n, n * 0.5) for n in range(1, 401)])

    horizon = PACK.horizon(PACK.person_rules)
    assert horizon == timedelta(days=38)
    assert state.activity[0].occurred_at >= days(200) - horizon
    assert len(state.activity) == 77  # every half day in the 38 days up to day 200


def test_a_place_keeps_only_the_referrals_of_its_horizon() -> None:
    state: PlaceRuleState | None = None
    for n in range(1, 201):
        state, _ = on_place_event(state, food_referral(n, n), PACK, days(n))
    assert state is not None

    assert state.referrals[0].occurred_at == days(165)
    assert state.first_seen == days(1)


def test_events_no_rule_looks_at_are_not_kept() -> None:
    pack = load_rule_pack(
        """
rules:
  - id: volunteer-concern
    severity: high
    routing: relationship-teams
    cooldown: 1d
    count: {events: {kinds: [volunteer-action], concern_raised: true}, at_least: 1}
"""
    )
    state, _ = on_person_event(None, contact(1, 0), pack, days(0))
    state, _ = on_person_event(state, volunteer_action(2, 1), pack, days(1))
    state, _ = on_person_event(state, volunteer_action(3, 2, concern_raised=True), pack, days(2))

    assert [a.event_id for a in state.activity] == ["00000000-0000-0000-0000-000000000003"]
    assert state.handoffs == ()


def test_states_survive_a_round_trip_through_json() -> None:
    state, alerts = fold(
        [
            contact(1, 0, place={"place_id": PLACE}),
            missed(2, 1),
            missed(3, 2),
            of(builders.handoff_update(4, days(3), place=None)),
        ]
    )
    assert alerts
    place_state, _ = on_place_event(None, food_referral(5, 3), PACK, days(3))

    assert PersonRuleState.model_validate_json(state.model_dump_json()) == state
    assert PlaceRuleState.model_validate_json(place_state.model_dump_json()) == place_state
