"""The default rule pack, rule by rule: what fires each rule, and near misses that must not."""

from __future__ import annotations

from uuid import UUID

from schemas.models import (
    AlertSubjectKind,
    ContactOutcome,
    Handoff,
    HandoffState,
    PersonEvent,
    Severity,
)
from tests.rules.support import (
    OTHER,
    consent,
    contact,
    days,
    food_referral,
    handoff,
    handoff_update,
    missed,
    raised,
    referral,
    run,
    volunteer_action,
)
from tests.views.builders import PERSON, PLACE

# gone-quiet: at least 3 contacts or volunteer actions in the 28 days before the last one,
# then nothing from anyone for 10 days.


def test_gone_quiet_fires_ten_days_after_a_regular_pattern_stops() -> None:
    alerts = raised(run([contact(1, 0), volunteer_action(2, 5), contact(3, 10)]), "gone-quiet")

    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.subject == PERSON
    assert alert.subject_kind is AlertSubjectKind.PERSON
    assert alert.severity is Severity.HIGH
    assert alert.raised_at == days(20)
    assert alert.evidence.event_ids == [str(UUID(int=n)) for n in (1, 2, 3)]
    assert alert.evidence.counts == {"events": 3, "events_after": 0}
    assert (alert.evidence.window_start, alert.evidence.window_end) == (days(-18), days(20))
    assert alert.explanation == (
        "3 contacts or volunteer actions within 28 days up to 13 June 2024, "
        "then nothing from anyone for 10 days."
    )


def test_gone_quiet_needs_three_in_the_pattern() -> None:
    assert raised(run([contact(1, 0), contact(2, 10)]), "gone-quiet") == []


def test_gone_quiet_needs_the_three_within_28_days_of_the_last() -> None:
    assert raised(run([contact(1, 0), contact(2, 15), contact(3, 30)]), "gone-quiet") == []


def test_gone_quiet_counts_the_pattern_only_of_contacts_and_volunteer_actions() -> None:
    events = [referral(1, 0), consent(2, 5), contact(3, 10)]

    assert raised(run(events), "gone-quiet") == []


def test_anything_from_anyone_within_ten_days_breaks_the_silence() -> None:
    pattern = [contact(1, 0), contact(2, 5), contact(3, 10)]

    # A consent change on day 19 is news of the person: the silence starts again from it.
    alerts = raised(run([*pattern, consent(4, 19)]), "gone-quiet")

    assert [alert.raised_at for alert in alerts] == [days(29)]


def test_activity_on_the_tenth_day_itself_breaks_the_silence() -> None:
    alerts = raised(
        run([contact(1, 0), contact(2, 5), contact(3, 10), contact(4, 20)]), "gone-quiet"
    )

    assert [alert.raised_at for alert in alerts] == [days(30)]


def test_gone_quiet_waits_for_the_clock_to_pass_the_deadline() -> None:
    pattern = [contact(1, 0), contact(2, 5), contact(3, 10)]

    assert raised(run(pattern, until=None), "gone-quiet") == []
    # Another person's event moves the shared clock past the deadline and its lateness.
    later = contact(9, 20.5, person=OTHER)
    assert [a.raised_at for a in raised(run([*pattern, later], until=None), "gone-quiet")] == [
        days(20)
    ]


# missed-contacts: 2 or more contacts missed or not answered, across any teams, within 14 days.


def test_missed_contacts_fires_on_two_misses_across_teams() -> None:
    events = [
        missed(1, 0, team="district-nursing"),
        contact(2, 13, team="housing-options", outcome=ContactOutcome.NO_ANSWER),
    ]

    alerts = raised(run(events), "missed-contacts")

    assert len(alerts) == 1
    assert alerts[0].raised_at == days(13)
    assert alerts[0].evidence.counts == {"events": 2}
    assert alerts[0].explanation == (
        "2 contacts missed or not answered within 14 days up to 16 June 2024."
    )


def test_missed_contacts_window_includes_its_fourteenth_day() -> None:
    assert len(raised(run([missed(1, 0), missed(2, 14)]), "missed-contacts")) == 1


def test_missed_contacts_fifteen_days_apart_do_not_fire() -> None:
    assert raised(run([missed(1, 0), missed(2, 15)]), "missed-contacts") == []


def test_completed_and_cancelled_contacts_are_not_missed() -> None:
    events = [
        missed(1, 0),
        contact(2, 1),
        contact(3, 2, outcome=ContactOutcome.CANCELLED),
    ]

    assert raised(run(events), "missed-contacts") == []


def test_another_persons_miss_does_not_count() -> None:
    assert raised(run([missed(1, 0), missed(2, 1, person=OTHER)]), "missed-contacts") == []


# many-services-no-lead: contacts or referrals from 3 or more distinct agencies within 30 days
# and no open handoff.


def three_agencies(first: float = 0, last: float = 20) -> list[PersonEvent]:
    return [
        contact(1, first, agency="nhs-trust"),
        referral(2, (first + last) / 2, agency="council"),
        contact(3, last, agency="housing-association", team="housing-options"),
    ]


def test_many_services_fires_on_three_agencies_within_30_days() -> None:
    alerts = raised(run(three_agencies()), "many-services-no-lead")

    assert len(alerts) == 1
    assert alerts[0].raised_at == days(20)
    assert alerts[0].evidence.counts == {"events": 3, "agencies": 3}
    assert alerts[0].explanation == (
        "Referrals or contacts from 3 different agencies within 30 days up to 23 June 2024, "
        "and no open handoff: the person may need a team around them."
    )


def test_many_services_over_31_days_do_not_fire() -> None:
    events = three_agencies(first=0, last=31)

    assert raised(run(events), "many-services-no-lead") == []


def test_many_events_from_two_agencies_do_not_fire() -> None:
    events = [contact(n, n, agency="nhs-trust" if n % 2 else "council") for n in range(1, 9)]

    assert raised(run(events), "many-services-no-lead") == []


def test_an_open_handoff_means_a_team_is_already_around_them() -> None:
    events: list[PersonEvent | Handoff] = [handoff(10, 5, state=HandoffState.SENT)]
    events += three_agencies()

    assert raised(run(events), "many-services-no-lead") == []


def test_a_handoff_the_receiving_service_accepted_is_open() -> None:
    events = [
        handoff_update(10, 5, status="accepted", reason=None, outcome=None),
        *three_agencies(),
    ]

    assert raised(run(events), "many-services-no-lead") == []


def test_a_handoff_closed_before_the_third_agency_leaves_nobody_leading() -> None:
    events: list[PersonEvent | Handoff] = [
        handoff(10, 5, state=HandoffState.SENT),
        handoff_update(11, 15, status="closed", reason=None, outcome="helped"),
        *three_agencies(),
    ]

    alerts = raised(run(events), "many-services-no-lead")

    assert [alert.raised_at for alert in alerts] == [days(20)]


# volunteer-concern: a volunteer action with concern_raised.


def test_a_volunteers_concern_fires_at_once() -> None:
    alerts = raised(run([volunteer_action(1, 3, concern_raised=True)]), "volunteer-concern")

    assert len(alerts) == 1
    assert alerts[0].raised_at == days(3)
    assert alerts[0].evidence.event_ids == [str(UUID(int=1))]
    assert (alerts[0].evidence.window_start, alerts[0].evidence.window_end) == (days(3), days(3))
    assert alerts[0].explanation == "A volunteer action raising a concern on 6 June 2024."


def test_a_volunteer_action_without_a_concern_does_not_fire() -> None:
    assert raised(run([volunteer_action(1, 3)]), "volunteer-concern") == []


def test_a_second_concern_while_the_first_alert_is_open_does_not_fire() -> None:
    events = [
        volunteer_action(1, 3, concern_raised=True),
        volunteer_action(2, 10, concern_raised=True),
    ]

    assert len(raised(run(events), "volunteer-concern")) == 1


# place-need-spike: referrals for one need in the last 7 days at least double the mean weekly
# count of the 4 weeks before, and at least 5.

COORDINATORS = {PLACE: "community-coordination"}


def place_history() -> list[PersonEvent]:
    """A place seen from day 0, with 3 food referrals in the four weeks before day 33."""
    return [
        referral(1, 0, needs=["housing"], place={"place_id": PLACE}),
        food_referral(2, 8),
        food_referral(3, 15),
        food_referral(4, 22),
    ]


def spike(count: int, first_id: int = 20) -> list[PersonEvent]:
    """``count`` food referrals on consecutive days from day 36."""
    return [food_referral(first_id + n, 36 + n) for n in range(count)]


def test_place_need_spike_fires_on_five_against_a_low_baseline() -> None:
    events = [*place_history(), *spike(5)]

    alerts = raised(run(events, coordinators=COORDINATORS), "place-need-spike")

    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.subject_kind, alert.subject) == (AlertSubjectKind.PLACE, PLACE)
    assert alert.teams == ["community-coordination"]
    assert alert.raised_at == days(40)
    assert len(alert.evidence.event_ids) == 5
    assert alert.evidence.counts == {"recent": 5, "baseline": 3}
    assert (alert.evidence.window_start, alert.evidence.window_end) == (days(5), days(40))
    assert alert.explanation == (
        "5 referrals for food in the 7 days up to 13 July 2024, "
        "against a mean of 0.75 per 7 days over the 28 days before."
    )


def test_four_referrals_are_not_a_spike() -> None:
    events = [*place_history(), *spike(4)]

    assert raised(run(events), "place-need-spike") == []


def test_exactly_double_the_baseline_is_a_spike_and_less_is_not() -> None:
    baseline = [food_referral(40 + n, 6 + 2.5 * n) for n in range(10)]  # mean 2.5 a week
    one_more = food_referral(60, 7)  # mean 2.75: 5 is less than double

    fires = [*place_history()[:1], *baseline, *spike(5)]
    misses = [*fires, one_more]

    assert len(raised(run(fires), "place-need-spike")) == 1
    assert raised(run(misses), "place-need-spike") == []


def test_referrals_for_different_needs_do_not_add_up() -> None:
    needs = ["food", "housing", "money", "care", "loneliness"]
    events = [
        *place_history(),
        *(
            referral(20 + n, 36 + n, needs=[need], place={"place_id": PLACE})
            for n, need in enumerate(needs)
        ),
    ]

    assert raised(run(events), "place-need-spike") == []


def test_a_place_seen_for_less_than_five_weeks_has_no_baseline_yet() -> None:
    events = [referral(1, 10, needs=["housing"], place={"place_id": PLACE}), *spike(5)]

    assert raised(run(events), "place-need-spike") == []
