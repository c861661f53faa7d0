"""The oracle: the views a stream of (person key, event) pairs should give, folded purely.

The agents' tests compare what the Faust tables and the SQL store hold against this. Events
are folded in the order given; apart from erasure, any order gives equal views (see
:mod:`streams.views.person`), so the oracle does not need the order the agents saw.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.models import AgencyEvent, ErasureRequest, Handoff
from streams.views.erasure import erase_person
from streams.views.person import PersonView, apply_handoff, apply_person
from streams.views.place import DEFAULT_WEEKS, PlaceView, apply_place


def replay(
    events: Iterable[tuple[str, AgencyEvent | Handoff]], *, weeks: int = DEFAULT_WEEKS
) -> tuple[dict[str, PersonView], dict[str, PlaceView]]:
    """Every person's and place's view after folding ``events`` one by one.

    An ErasureRequest erases its person as :func:`streams.views.erasure.erase_person` does;
    routing's Handoff messages are folded into the person they name.
    """
    persons: dict[str, PersonView] = {}
    places: dict[str, PlaceView] = {}
    for person_key, event in events:
        if isinstance(event, Handoff):
            if event.person_key != person_key:
                raise ValueError("a handoff was paired with another person's key")
            persons[person_key] = apply_handoff(persons.get(person_key), event)
        elif isinstance(event, ErasureRequest):
            persons, places = erase_person(persons, places, person_key)
        else:
            persons[person_key] = apply_person(persons.get(person_key), person_key, event)
            if event.place is not None:
                place_id = event.place.place_id
                places[place_id] = apply_place(
                    places.get(place_id), place_id, person_key, event, weeks=weeks
                )
    return persons, places
