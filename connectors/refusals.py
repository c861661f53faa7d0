"""Why an item was refused, as field errors, for the connectors that report refusals.

The ingest names the fields of an invalid event; a forbidden or conflicting one carries no
errors of its own. The file drop (rejects file) and the outbox relay (``error`` column) both
need a reason for every refused item, so they take it from here, never with field values.
"""

from __future__ import annotations

from connectors.errors import FieldError
from connectors.ingest import Outcome, Status

_REASONS: dict[Status, FieldError] = {
    Status.FORBIDDEN: FieldError("agency", "not the agency publishing through this connector"),
    Status.CONFLICT: FieldError("event_id", "already accepted with another body"),
    Status.UNAVAILABLE: FieldError("(broker)", "the broker did not acknowledge the event"),
}

#: What a connector records of one refusal, at most (a column may be short).
MAX_DESCRIPTION = 1000


def refusal_errors(outcome: Outcome) -> list[FieldError]:
    """The field errors of a refused ``outcome``; empty for an accepted one."""
    if outcome.accepted:
        return []
    if outcome.errors:
        return list(outcome.errors)
    return [_REASONS.get(outcome.status, FieldError("(event)", str(outcome.status)))]


def describe_refusal(outcome: Outcome, limit: int = MAX_DESCRIPTION) -> str:
    """One line: the status, then each field and why, cut to ``limit`` characters."""
    detail = "; ".join(f"{error.loc}: {error.msg}" for error in refusal_errors(outcome))
    text = f"{outcome.status}: {detail}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
