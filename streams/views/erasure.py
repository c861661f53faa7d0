"""What erasing a person does to the views: their view goes, and every place forgets them.

Erasure is the one order-sensitive step: it removes what was folded before it, and an event
of the same key folded after it starts a new view. Identity resolution forgets the person
too, so later events of theirs get a new key; only events already resolved and in flight
can reach the old key, and the agents must drop those (the fold cannot tell).

Place counts are aggregates and stay; only ``persons_with_needs`` names persons.
"""

from __future__ import annotations

from collections.abc import Mapping

from streams.views.person import PersonView
from streams.views.place import PlaceView


def erase_person(
    persons: Mapping[str, PersonView], places: Mapping[str, PlaceView], person_key: str
) -> tuple[dict[str, PersonView], dict[str, PlaceView]]:
    """``persons`` without ``person_key``'s view and ``places`` without their key."""
    kept = {key: view for key, view in persons.items() if key != person_key}
    return kept, {place_id: view.erase(person_key) for place_id, view in places.items()}
