"""What the HTTP routes of the shared view share: who a bearer token names, and refusals.

Every refusal has one shape, ``{"detail": [{"loc", "msg"}, ...]}``, as the ingest routes
answer; a 401 also says which scheme to use.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse


def bearer_holder(request: Request, holder_for_token: Callable[[str], str | None]) -> str | None:
    """The id of whoever the request's bearer token belongs to, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return holder_for_token(token) if scheme.lower() == "bearer" and token else None


def problems(status: int, *found: tuple[str, str]) -> JSONResponse:
    """A refusal naming each ``(loc, msg)`` problem."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"detail": [{"loc": loc, "msg": msg} for loc, msg in found]}
    return JSONResponse(body, status, headers=headers)
