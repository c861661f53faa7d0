"""The event-time clock: how far event time has surely got, whatever order events arrive in.

Rules judge a moment only once the clock has passed it, so that every event of that moment
has arrived and the judgement does not depend on arrival order. The clock's time (the
watermark) is the latest ``occurred_at`` seen from any agency minus the allowed lateness:
an event up to that late is judged as if it had come on time. In live operation the agent
also observes wall time, so that absences are noticed when nothing arrives at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict


class EventClock(BaseModel):
    """The latest event time seen, and the lateness allowed behind it; never goes back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_lateness: timedelta
    latest: datetime | None = None

    def observe(self, at: datetime) -> EventClock:
        """This clock having seen ``at`` (an event's time, or wall time in live operation)."""
        if self.latest is not None and at <= self.latest:
            return self
        return self.model_copy(update={"latest": at})

    @property
    def watermark(self) -> datetime | None:
        """The moment up to which every event is taken to have arrived; None before any."""
        return None if self.latest is None else self.latest - self.allowed_lateness
