"""The one validation path of every connector: the pydantic contracts.

Errors name each invalid field by its dotted path with pydantic's reason; values are never
echoed back, since they are personal data and error messages end up in logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from connectors.errors import FieldError, InvalidEventError
from schemas.models import MODEL_OF_KIND, AgencyEvent
from schemas.topics import EventKind


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Every failing field of ``exc``, as path and reason."""
    return [
        FieldError(".".join(str(part) for part in error["loc"]) or "(body)", error["msg"])
        for error in exc.errors(include_input=False, include_url=False, include_context=False)
    ]


#: How far ahead of the ingest's clock an event may say it happened (agencies' clocks drift).
MAX_CLOCK_SKEW = timedelta(minutes=5)


def parse_event(
    kind: EventKind,
    body: bytes | str | Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> AgencyEvent:
    """The event of ``kind`` in ``body`` (JSON text or already-parsed mapping).

    Raises :class:`InvalidEventError` naming every invalid field, ``from None``: pydantic's own
    error quotes the input, which a logged traceback would carry along. An event dated in
    the future (beyond :data:`MAX_CLOCK_SKEW`) is refused here, at the edge: event time
    decides which consent decision is the latest, so a future-dated grant would outrank
    every real withdrawal until that date.
    """
    model = MODEL_OF_KIND[kind]
    try:
        event = (
            model.model_validate_json(body)
            if isinstance(body, bytes | str)
            else model.model_validate(body)
        )
    except ValidationError as exc:
        raise InvalidEventError(field_errors(exc)) from None
    if event.occurred_at > (now or datetime.now(UTC)) + MAX_CLOCK_SKEW:
        raise InvalidEventError([FieldError("occurred_at", "is in the future")])
    return event
