"""The person view, field by field: what each event kind does to it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.models import (
    AgencyEvent,
    ContactOutcome,
    DeclineReason,
    Handoff,
    HandoffOutcome,
    HandoffState,
    HandoffUpdateStatus,
    Need,
)
from streams.views import (
    ErasureNotFoldedError,
    PersonView,
    RelationshipKind,
    apply_handoff,
    apply_person,
    dump_json,
)
from streams.views.person import CONCERNS, CONTACTS_PER_TEAM, MAX_ENTRIES, RECENT_EVENTS
from tests.views.builders import (
    PERSON,
    contact,
    erasure,
    handoff,
    handoff_update,
    hours,
    referral,
    volunteer_action,
)


def fold(*events: AgencyEvent | Handoff) -> PersonView:
    view: PersonView | None = None
    for event in events:
        if isinstance(event, Handoff):
            view = apply_handoff(view, event)
        else:
            view = apply_person(view, PERSON, event)
    assert view is not None
    return view


def test_the_first_event_starts_a_view_of_that_person() -> None:
    view = apply_person(None, PERSON, contact(1, hours(0)))

    assert view.person_key == PERSON
    assert view.last_event_at == hours(0)


def test_an_event_for_another_person_is_refused() -> None:
    view = fold(contact(1, hours(0)))

    with pytest.raises(ValueError, match="another person"):
        apply_person(view, "p-someone-else", contact(2, hours(1)))


def test_an_erasure_request_is_not_folded() -> None:
    with pytest.raises(ErasureNotFoldedError):
        apply_person(fold(contact(1, hours(0))), PERSON, erasure(2, hours(1)))


def test_folding_leaves_the_old_view_as_it_was() -> None:
    before = fold(contact(1, hours(0)))
    text = dump_json(before)

    apply_person(before, PERSON, referral(2, hours(1)))

    assert dump_json(before) == text


def test_last_event_at_is_the_latest_event_time_whatever_the_arrival_order() -> None:
    view = fold(contact(1, hours(5)), contact(2, hours(1)))

    assert view.last_event_at == hours(5)


def test_the_same_event_twice_changes_nothing() -> None:
    view = fold(contact(1, hours(0)), referral(2, hours(1)))

    assert apply_person(view, PERSON, contact(1, hours(0))) is view


def test_relationships_record_first_and_last_seen_and_how_often() -> None:
    view = fold(
        contact(1, hours(10), professional_id="nurse-17", team="district-nursing"),
        contact(2, hours(2), professional_id="nurse-17", team="district-nursing"),
        contact(3, hours(6), professional_id="nurse-4", team="district-nursing"),
        referral(4, hours(8), from_team="adult-social-care"),
        volunteer_action(5, hours(9), volunteer_id="vol-9"),
    )

    nurse = view.relationships["professional:nurse-17"]
    assert (nurse.first_seen, nurse.last_seen, nurse.count) == (hours(2), hours(10), 2)
    assert [r.id for r in view.involved(RelationshipKind.PROFESSIONAL)] == ["nurse-17", "nurse-4"]
    assert [(r.id, r.count) for r in view.involved(RelationshipKind.TEAM)] == [
        ("district-nursing", 3),
        ("adult-social-care", 1),
    ]
    assert [r.id for r in view.involved(RelationshipKind.VOLUNTEER)] == ["vol-9"]
    agencies = {r.id: r.count for r in view.involved(RelationshipKind.AGENCY)}
    assert agencies == {"nhs-trust": 3, "council": 1, "good-neighbours": 1}


def test_a_contact_without_a_professional_adds_no_professional() -> None:
    view = fold(contact(1, hours(0), professional_id=None))

    assert view.involved(RelationshipKind.PROFESSIONAL) == []


def test_needs_open_with_referrals_and_observations_since_the_earliest() -> None:
    view = fold(
        referral(1, hours(5), needs=[Need.FOOD, Need.MONEY]),
        contact(2, hours(3), needs_observed=[Need.FOOD]),
        contact(3, hours(4), needs_observed=None),
    )

    assert view.open_needs() == {Need.FOOD: hours(3), Need.MONEY: hours(5)}


def closing(n: int, at_hours: float, outcome: HandoffOutcome, **changes: object) -> Handoff:
    """Routing's message that handoff-1 (for ref-1) closed with ``outcome``."""
    return handoff(
        n,
        hours(at_hours),
        handoff_id="handoff-1",
        referral_id="ref-1",
        state=HandoffState.CLOSED,
        outcome=outcome,
        **changes,
    )


def test_a_handoff_closed_as_helped_closes_the_needs_it_carried() -> None:
    view = fold(
        referral(1, hours(0), referral_id="ref-1", needs=[Need.FOOD, Need.MONEY]),
        contact(2, hours(1), needs_observed=[Need.LONELINESS]),
        closing(3, 5, HandoffOutcome.HELPED, needs=[Need.FOOD]),
    )

    assert view.open_needs() == {Need.MONEY: hours(0), Need.LONELINESS: hours(1)}


def test_without_needs_of_its_own_a_handoff_closes_its_referrals_needs() -> None:
    view = fold(
        referral(1, hours(0), referral_id="ref-1", needs=[Need.FOOD, Need.MONEY]),
        closing(2, 5, HandoffOutcome.NO_LONGER_NEEDED, needs=[]),
    )

    assert view.open_needs() == {}


def test_a_handoff_that_did_not_help_closes_no_need() -> None:
    view = fold(
        referral(1, hours(0), referral_id="ref-1", needs=[Need.FOOD]),
        closing(2, 5, HandoffOutcome.NOT_HELPED, needs=[Need.FOOD]),
    )

    assert view.open_needs() == {Need.FOOD: hours(0)}


def test_a_need_observed_after_its_close_is_open_again_since_then() -> None:
    view = fold(
        referral(1, hours(0), referral_id="ref-1", needs=[Need.FOOD]),
        closing(2, 5, HandoffOutcome.HELPED, needs=[Need.FOOD]),
        contact(3, hours(5), needs_observed=[Need.FOOD]),
        contact(4, hours(9), needs_observed=[Need.FOOD]),
        contact(5, hours(7), needs_observed=[Need.FOOD]),
    )

    # At the close's own instant the close wins; the need is open again from hour 7.
    assert view.open_needs() == {Need.FOOD: hours(7)}


def test_a_close_at_the_instant_of_the_only_observation_closes_the_need() -> None:
    view = fold(
        referral(1, hours(5), referral_id="ref-1", needs=[Need.FOOD]),
        closing(2, 5, HandoffOutcome.HELPED, needs=[Need.FOOD]),
    )

    assert view.open_needs() == {}


def test_a_handoff_update_alone_closes_no_need_as_it_names_no_referral() -> None:
    view = fold(
        referral(1, hours(0), referral_id="ref-1", needs=[Need.FOOD]),
        handoff_update(2, hours(5), status=HandoffUpdateStatus.CLOSED),
    )

    assert view.open_needs() == {Need.FOOD: hours(0)}
    assert view.handoffs["handoff-1"].route is None


def test_recent_contacts_keep_the_latest_few_per_team_oldest_first() -> None:
    events = [contact(n, hours(n), team="district-nursing") for n in range(1, 9)]
    view = fold(*reversed(events), contact(20, hours(3), team="housing-options"))

    nursing = view.contacts["district-nursing"]
    assert len(nursing) == CONTACTS_PER_TEAM
    assert [c.occurred_at for c in nursing] == [hours(n) for n in range(4, 9)]
    assert nursing[-1].outcome is ContactOutcome.NO_ANSWER
    assert nursing[-1].professional_id == "nurse-17"
    assert nursing[-1].event_id == str(events[-1].event_id)
    assert [c.occurred_at for c in view.contacts["housing-options"]] == [hours(3)]


def test_referrals_are_open_until_a_handoff_for_them_is_closed_or_cancelled() -> None:
    view = fold(
        referral(1, hours(0), referral_id="ref-1"),
        referral(2, hours(1), referral_id="ref-2"),
        referral(3, hours(2), referral_id="ref-3"),
        handoff(4, hours(3), handoff_id="h-1", referral_id="ref-1", state=HandoffState.CLOSED),
        handoff(5, hours(3), handoff_id="h-2", referral_id="ref-2", state=HandoffState.CANCELLED),
        handoff(6, hours(3), handoff_id="h-3", referral_id="ref-3", state=HandoffState.DECLINED),
    )

    assert set(view.open_referrals()) == {"ref-3"}
    assert view.referrals["ref-3"].from_team == "adult-social-care"


def test_a_referral_reported_again_keeps_its_latest_version() -> None:
    view = fold(
        referral(1, hours(4), referral_id="ref-1", needs=[Need.HOUSING]),
        referral(2, hours(1), referral_id="ref-1", needs=[Need.FOOD]),
    )

    assert view.referrals["ref-1"].needs == (Need.HOUSING,)
    assert view.referrals["ref-1"].occurred_at == hours(4)


def test_a_handoff_keeps_its_latest_status_and_the_route_routing_gave_it() -> None:
    view = fold(
        handoff_update(
            1,
            hours(6),
            status=HandoffUpdateStatus.DECLINED,
            reason=DeclineReason.NO_CAPACITY,
            outcome=None,
        ),
        handoff(2, hours(1), handoff_id="handoff-1", to_team="food-bank-north"),
        handoff_update(3, hours(2), status=HandoffUpdateStatus.ACCEPTED, outcome=None),
    )

    entry = view.handoffs["handoff-1"]
    assert (entry.status, entry.reason, entry.occurred_at) == (
        HandoffState.DECLINED,
        DeclineReason.NO_CAPACITY,
        hours(6),
    )
    assert entry.route is not None
    assert entry.route.to_team == "food-bank-north"
    assert view.open_handoffs() == {}
    assert view.open_handoff_teams() == set()


def test_at_the_same_instant_the_later_state_of_a_handoff_wins() -> None:
    view = fold(
        handoff_update(1, hours(2), status=HandoffUpdateStatus.CLOSED, outcome=None),
        handoff_update(2, hours(2), status=HandoffUpdateStatus.ACCEPTED, outcome=None),
    )

    assert view.handoffs["handoff-1"].status is HandoffState.CLOSED


def test_at_the_same_instant_and_stage_the_greater_event_id_wins_in_any_order() -> None:
    declined = handoff_update(1, hours(2), status=HandoffUpdateStatus.DECLINED, outcome=None)
    cancelled = handoff_update(2, hours(2), status=HandoffUpdateStatus.CANCELLED, outcome=None)

    assert fold(declined, cancelled) == fold(cancelled, declined)
    assert fold(declined, cancelled).handoffs["handoff-1"].status is HandoffState.CANCELLED


def test_open_handoffs_name_the_team_they_are_with() -> None:
    view = fold(
        handoff(1, hours(1), handoff_id="h-1", to_team="food-bank-north"),
        handoff(2, hours(1), handoff_id="h-2", to_team="debt-advice"),
        handoff_update(3, hours(2), handoff_id="h-2", status=HandoffUpdateStatus.CANCELLED),
    )

    assert set(view.open_handoffs()) == {"h-1"}
    assert view.open_handoff_teams() == {"food-bank-north"}


def test_routing_messages_are_not_news_of_the_person() -> None:
    view = fold(contact(1, hours(1)), handoff(2, hours(9)))

    assert view.last_event_at == hours(1)
    assert set(view.relationships) == {
        "agency:nhs-trust",
        "team:district-nursing",
        "professional:nurse-17",
    }


def test_volunteer_concerns_keep_the_latest_raised_ones() -> None:
    actions = [volunteer_action(n, hours(n), concern_raised=True) for n in range(1, 9)]
    view = fold(*actions, volunteer_action(20, hours(30), concern_raised=False))

    assert len(view.concerns) == CONCERNS
    assert [c.occurred_at for c in view.concerns] == [hours(n) for n in range(4, 9)]
    assert view.concerns[-1].note == "Fridge nearly empty."
    assert view.concerns[-1].volunteer_id == "vol-9"


def test_recent_event_ids_are_bounded_to_the_latest() -> None:
    view = fold(*(contact(n, hours(n)) for n in range(1, RECENT_EVENTS + 11)))

    assert len(view.recent_events) == RECENT_EVENTS
    assert view.recent_events[0][0] == hours(11)
    # A redelivery of a recent event is recognised; the relationship count did not move.
    assert apply_person(view, PERSON, contact(RECENT_EVENTS, hours(RECENT_EVENTS))) is view


def test_the_relationships_are_bounded_and_the_longest_unseen_goes_first() -> None:
    events = [contact(n, hours(n), professional_id=f"nurse-{n}") for n in range(MAX_ENTRIES)]
    view = fold(*events)

    assert len(view.relationships) == MAX_ENTRIES
    assert "professional:nurse-0" not in view.relationships
    assert "professional:nurse-1" not in view.relationships
    assert "professional:nurse-2" in view.relationships


def test_a_view_survives_a_json_round_trip() -> None:
    view = fold(
        referral(1, hours(0)),
        contact(2, hours(1)),
        volunteer_action(3, hours(2)),
        handoff(4, hours(3)),
        handoff_update(5, hours(4)),
    )

    again = PersonView.model_validate(view.model_dump(mode="json"))

    assert again == view
    assert dump_json(again) == dump_json(view)
    assert PersonView.model_validate_json(dump_json(view)) == view


def test_an_event_long_after_changes_only_what_it_touches() -> None:
    view = fold(referral(1, hours(0), referral_id="ref-1"))
    later = apply_person(view, PERSON, contact(2, hours(0) + timedelta(days=400)))

    assert later.referrals == view.referrals
    assert later.open_needs() == view.open_needs() | {
        Need.PHYSICAL_HEALTH: hours(0) + timedelta(days=400),
        Need.LONELINESS: hours(0) + timedelta(days=400),
    }
