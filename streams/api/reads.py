"""Reads of the shared view: a person's as their consent allows, a place's in aggregate.

A team sees a person's view only on a basis (a purpose the person granted that covers the
team, or an open handoff to that team), and every read, granted or refused, is written to
the append-only audit with who, what, when and why. A place's view is aggregate: its
personal part (which persons have open needs) leaves only as a count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from streams.api.common import bearer_holder, problems
from streams.store import Store
from streams.views import basis_for
from streams.views.place import PlaceView, week_of

WEEK = timedelta(days=7)
#: The baseline a place's week is read beside (the alerts' "need spike" compares the same).
BASELINE = timedelta(days=28)


def read_router(store: Store, team_for_token: Callable[[str], str | None]) -> APIRouter:
    """``GET /v1/persons/{person_key}`` and ``GET /v1/places/{place_id}`` for team tokens."""
    router = APIRouter(tags=["shared view"])

    def team_of(request: Request) -> str | None:
        return bearer_holder(request, team_for_token)

    @router.get("/v1/persons/{person_key}")
    async def person(person_key: str, request: Request) -> JSONResponse:
        """The person's view, if the calling team has a basis to see it."""
        team = team_of(request)
        if team is None:
            return problems(401, ("header.authorization", "a team's bearer token is required"))
        view = await asyncio.to_thread(store.views.person, person_key)
        if view is None:
            return problems(404, ("path.person_key", "no such person"))
        basis = basis_for(view, team, open_handoff_teams=view.open_handoff_teams())
        why = ",".join(basis) or "none"
        await asyncio.to_thread(
            store.audit.record, team, person_key, "person_view", why, granted=bool(basis)
        )
        if not basis:
            return problems(403, ("path.person_key", "no consent or open handoff for your team"))
        return JSONResponse({"basis": basis, "view": view.model_dump(mode="json")})

    @router.get("/v1/places/{place_id}")
    async def place(place_id: str, request: Request, at: datetime | None = None) -> JSONResponse:
        """Need beside community capacity in a place, as of ``at`` (default: now)."""
        if team_of(request) is None:
            return problems(401, ("header.authorization", "a team's bearer token is required"))
        view = await asyncio.to_thread(store.views.place, place_id)
        if view is None:
            return problems(404, ("path.place_id", "no such place"))
        return JSONResponse(place_summary(view, at or datetime.now(UTC)))

    return router


def place_summary(view: PlaceView, at: datetime) -> dict[str, Any]:
    """The week of ``at`` beside the four weeks before it; persons only as a number."""
    week = week_of(at)
    next_week, baseline_start = week + WEEK, week - BASELINE
    return {
        "place_id": view.place_id,
        "at": at.isoformat(),
        "week_starting": week.isoformat(),
        "referrals_this_week": _by_need(view.referrals_by_need(week, next_week)),
        "referrals_four_weeks_before": _by_need(view.referrals_by_need(baseline_start, week)),
        "contacts_this_week": view.contacts_in(week, next_week),
        "volunteer_actions_this_week": view.volunteer_actions_in(week, next_week),
        "active_volunteers": len(view.active_volunteers(at)),
        "persons_with_open_needs": len(view.persons_with_open_needs(at)),
    }


def _by_need(counts: dict[Any, int]) -> dict[str, int]:
    return {str(need): count for need, count in sorted(counts.items())}
