"""Who an alert goes to: the teams around the person, else the place's coordinator.

Routing reads the person's view (its team relationships) as it is when the alert is raised:
the teams say where an alert goes, not whether it is raised, so they never change an
alert's id. The place coordinators come from the directory, as a mapping place → team.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from streams.rules.pack import Routing
from streams.views import PersonView, RelationshipKind


def person_teams(
    routing: Routing,
    view: PersonView | None,
    place_id: str | None,
    coordinators: Mapping[str, str],
    *,
    at: datetime,
    current: timedelta,
) -> list[str]:
    """The teams for an alert about a person raised at ``at``.

    For relationship-teams: the teams seen with the person since ``at`` - ``current``, the
    most recently seen first; with none, the coordinator of the person's latest place.
    """
    if routing is Routing.RELATIONSHIP_TEAMS and view is not None:
        teams = [
            relationship
            for relationship in view.involved(RelationshipKind.TEAM)
            if relationship.last_seen >= at - current
        ]
        teams.sort(key=lambda relationship: relationship.last_seen, reverse=True)
        if teams:
            return [relationship.id for relationship in teams]
    return place_teams(place_id, coordinators)


def place_teams(place_id: str | None, coordinators: Mapping[str, str]) -> list[str]:
    """The coordinator team of ``place_id``, if the directory names one."""
    team = None if place_id is None else coordinators.get(place_id)
    return [] if team is None else [team]
