"""Which team may see a person's view, and on what basis, so that every read can be audited.

The rule: team T may see person P's view when

1. for a viewing purpose (direct_care or prevention), P's consent decision that applies to
   T is a grant. Two decisions can apply: P's latest for every team (ConsentChange without
   ``team``) and P's latest for T alone; the later of the two by event time applies (at
   the same instant a withdrawal beats a grant, then the greater event id wins). So a
   withdrawal after a grant withdraws, a grant to every team covers T unless T's own
   withdrawal came later, and a grant to another team never covers T; or
2. a handoff of P that is still open (sent, accepted, in contact) is with T: the receiving
   team needs the context to help. The caller passes those teams, as routing knows them;
   :meth:`~streams.views.person.PersonView.open_handoff_teams` gives the ones the view knows.

A team that may see the view sees all of it; any other team sees nothing (None). Consent is
not the only lawful basis for sharing for individual care, but it is the one the contracts
carry; another basis would be another entry of the basis returned here.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Final

from schemas.models import ConsentPurpose
from streams.views.person import PersonView

#: The purposes under which a team may read a person's view; a purpose added to the contracts
#: later (research, say) grants nothing here until it is added on purpose.
VIEWING_PURPOSES: Final = frozenset({ConsentPurpose.DIRECT_CARE, ConsentPurpose.PREVENTION})

#: The basis recorded when a read is allowed by an open handoff to the reading team.
OPEN_HANDOFF: Final = "open_handoff"


def purposes_for(view: PersonView, team: str) -> set[str]:
    """The viewing purposes for which ``team`` holds the person's consent now."""
    granted: set[str] = set()
    for purpose, scopes in view.consent.items():
        decision = scopes.decision_for(team)
        if purpose in VIEWING_PURPOSES and decision is not None and decision.granted:
            granted.add(purpose.value)
    return granted


def basis_for(view: PersonView, team: str, *, open_handoff_teams: Set[str]) -> list[str]:
    """Why ``team`` may see the view, sorted (purposes, then ``open_handoff``); empty if not."""
    basis = sorted(purposes_for(view, team))
    if team in open_handoff_teams:
        basis.append(OPEN_HANDOFF)
    return basis


def visible_view(view: PersonView, team: str, *, open_handoff_teams: Set[str]) -> PersonView | None:
    """The view as ``team`` may see it: all of it on some basis, else None."""
    return view if basis_for(view, team, open_handoff_teams=open_handoff_teams) else None
