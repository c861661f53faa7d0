"""Who may see a person's view: consent by purpose and scope, or an open handoff."""

from __future__ import annotations

from itertools import permutations

from schemas.models import ConsentChange, ConsentPurpose
from streams.views import (
    PersonView,
    apply_handoff,
    apply_person,
    basis_for,
    purposes_for,
    visible_view,
)
from streams.views.consent import OPEN_HANDOFF
from tests.views.builders import PERSON, consent, contact, handoff, hours

NURSING = "district-nursing"
HOUSING = "housing-options"
CARE = ConsentPurpose.DIRECT_CARE
PREVENTION = ConsentPurpose.PREVENTION


def person_with(*changes: ConsentChange) -> PersonView:
    view = apply_person(None, PERSON, contact(1000, hours(0)))
    for change in changes:
        view = apply_person(view, PERSON, change)
    return view


def grant(n: int, at: float, team: str | None, purpose: ConsentPurpose = CARE) -> ConsentChange:
    return consent(n, hours(at), purpose=purpose, granted=True, team=team)


def withdraw(n: int, at: float, team: str | None, purpose: ConsentPurpose = CARE) -> ConsentChange:
    return consent(n, hours(at), purpose=purpose, granted=False, team=team)


def sees(view: PersonView, team: str, handoff_teams: frozenset[str] = frozenset()) -> bool:
    return visible_view(view, team, open_handoff_teams=handoff_teams) is not None


def test_without_consent_or_handoff_a_team_sees_nothing() -> None:
    view = person_with()

    assert visible_view(view, NURSING, open_handoff_teams=set()) is None
    assert purposes_for(view, NURSING) == set()
    assert basis_for(view, NURSING, open_handoff_teams=set()) == []


def test_a_grant_to_every_team_covers_every_team_with_the_whole_view() -> None:
    view = person_with(grant(1, 1, None))

    assert visible_view(view, NURSING, open_handoff_teams=set()) is view
    assert sees(view, HOUSING)
    assert purposes_for(view, NURSING) == {"direct_care"}


def test_a_grant_to_one_team_covers_that_team_only() -> None:
    view = person_with(grant(1, 1, NURSING))

    assert sees(view, NURSING)
    assert not sees(view, HOUSING)


def test_a_withdrawal_after_a_grant_withdraws_whatever_order_they_arrive_in() -> None:
    for changes in permutations([grant(1, 1, None), withdraw(2, 2, None)]):
        assert not sees(person_with(*changes), NURSING)


def test_a_grant_after_a_withdrawal_grants_again() -> None:
    view = person_with(withdraw(1, 1, None), grant(2, 2, None))

    assert sees(view, NURSING)


def test_a_later_withdrawal_for_every_team_overrides_a_grant_to_one_team() -> None:
    view = person_with(grant(1, 1, NURSING), withdraw(2, 2, None))

    assert not sees(view, NURSING)


def test_a_later_withdrawal_for_one_team_leaves_the_others_covered() -> None:
    view = person_with(grant(1, 1, None), withdraw(2, 2, NURSING))

    assert not sees(view, NURSING)
    assert sees(view, HOUSING)


def test_a_later_grant_to_every_team_covers_a_team_that_withdrew_before() -> None:
    view = person_with(withdraw(1, 1, NURSING), grant(2, 2, None))

    assert sees(view, NURSING)


def test_at_the_same_instant_a_withdrawal_beats_a_grant_in_any_order() -> None:
    for changes in permutations([grant(1, 3, None), withdraw(2, 3, NURSING), grant(3, 3, NURSING)]):
        view = person_with(*changes)
        assert not sees(view, NURSING)
        assert sees(view, HOUSING)


def test_purposes_are_consented_to_separately() -> None:
    view = person_with(grant(1, 1, None, PREVENTION), withdraw(2, 2, None, CARE))

    assert purposes_for(view, NURSING) == {"prevention"}
    assert basis_for(view, NURSING, open_handoff_teams=set()) == ["prevention"]


def test_both_purposes_are_both_in_the_basis() -> None:
    view = person_with(grant(1, 1, None, PREVENTION), grant(2, 1, NURSING, CARE))

    assert basis_for(view, NURSING, open_handoff_teams=set()) == ["direct_care", "prevention"]


def test_an_open_handoff_to_a_team_lets_it_see_the_view() -> None:
    view = person_with(withdraw(1, 1, None))

    assert sees(view, "food-bank-north", frozenset({"food-bank-north"}))
    assert not sees(view, NURSING, frozenset({"food-bank-north"}))
    assert basis_for(view, "food-bank-north", open_handoff_teams={"food-bank-north"}) == [
        OPEN_HANDOFF
    ]


def test_the_views_own_open_handoffs_can_be_the_basis() -> None:
    view = apply_handoff(person_with(), handoff(1, hours(1), to_team="food-bank-north"))

    assert sees(view, "food-bank-north", frozenset(view.open_handoff_teams()))


def test_consent_and_handoff_are_both_in_the_basis() -> None:
    view = person_with(grant(1, 1, NURSING))

    assert basis_for(view, NURSING, open_handoff_teams={NURSING}) == ["direct_care", OPEN_HANDOFF]
