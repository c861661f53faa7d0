"""The parts of a person's view: one small immutable record per kind of fact.

They are frozen, slotted dataclasses rather than pydantic models: a view holds hundreds of
them, and a dataclass is one object where a model is three (itself, its ``__dict__`` and its
set of fields), which halves what the garbage collector walks in a worker holding many views
and makes each twice as fast to build. The views, which are pydantic models, validate and
serialise them all the same.

Each entry that can be superseded has a ``rank``: the event time first, then a rule for
ties, then the event id, so that "latest" means the same on every worker whatever the
arrival order. Event ids are kept as their canonical text, which sorts as the ids do and,
unlike a UUID object, is not something the garbage collector has to track.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from schemas.models import (
    ContactChannel,
    ContactOutcome,
    DeclineReason,
    HandoffOutcome,
    HandoffState,
    Need,
    Urgency,
    VolunteerActionKind,
)
from streams.views.common import EventRank


class RelationshipKind(StrEnum):
    """Who is involved in the person's life."""

    PROFESSIONAL = "professional"
    VOLUNTEER = "volunteer"
    TEAM = "team"
    AGENCY = "agency"


@dataclass(frozen=True, slots=True, kw_only=True)
class Relationship:
    """One professional, volunteer, team or agency involved with the person: continuity shows
    in ``first_seen`` and ``count``, a fading relationship in ``last_seen``."""

    kind: RelationshipKind
    id: str
    first_seen: datetime
    last_seen: datetime
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedObservations:
    """When a need was raised (a referral's needs) or observed (a contact's).

    ``recent`` keeps the latest distinct times, enough to say since when a need has been
    open again after a handoff closed it; ``first_seen`` is the earliest ever.
    """

    first_seen: datetime
    recent: tuple[datetime, ...]

    def open_since(self, closed_at: datetime | None) -> datetime | None:
        """Since when the need is open given its latest close, or None if it is closed.

        Open means observed after the close (a close and an observation at the same instant:
        closed). Since is the earliest observation after the close, exact unless more
        observations followed the close than ``recent`` keeps, when it is the earliest kept.
        """
        if closed_at is None or self.first_seen > closed_at:
            return self.first_seen
        return next((moment for moment in self.recent if moment > closed_at), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactEntry:
    """One recent contact of a team: missed ones are an early warning."""

    occurred_at: datetime
    outcome: ContactOutcome
    channel: ContactChannel
    professional_id: str | None
    event_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralEntry:
    """A referral as last reported; open until one of its handoffs is closed or cancelled."""

    needs: tuple[Need, ...]
    urgency: Urgency
    from_team: str
    to_service: str | None
    consent_to_share: bool
    occurred_at: datetime
    event_id: str

    @property
    def rank(self) -> EventRank:
        return (self.occurred_at, self.event_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRoute:
    """Where a handoff goes and what for; known from routing's Handoff messages only."""

    referral_id: str
    from_team: str
    service_id: str
    to_team: str
    needs: tuple[Need, ...]
    occurred_at: datetime
    event_id: str

    @property
    def rank(self) -> EventRank:
        return (self.occurred_at, self.event_id)


#: At the same instant, a later state in a handoff's life wins over an earlier one.
STATE_ORDER: Final[dict[HandoffState, int]] = {
    HandoffState.SENT: 0,
    HandoffState.ACCEPTED: 1,
    HandoffState.CONTACTED: 2,
    HandoffState.DECLINED: 3,
    HandoffState.EXPIRED: 3,
    HandoffState.CANCELLED: 3,
    HandoffState.CLOSED: 4,
}

#: States in which a handoff still waits for, or is getting, the receiving team's help.
OPEN_STATES: Final = frozenset({HandoffState.SENT, HandoffState.ACCEPTED, HandoffState.CONTACTED})

#: States that end a referral: its help was given, or nobody is to give it any more.
ENDING_STATES: Final = frozenset({HandoffState.CLOSED, HandoffState.CANCELLED})

#: Outcomes of a closed handoff that mean its needs are met.
MEETING_OUTCOMES: Final = frozenset({HandoffOutcome.HELPED, HandoffOutcome.NO_LONGER_NEEDED})


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffEntry:
    """A handoff's latest state (from HandoffUpdate or Handoff) and, once routing has said
    so, its route: the team it is with, its referral and needs."""

    status: HandoffState
    reason: DeclineReason | None
    outcome: HandoffOutcome | None
    occurred_at: datetime
    event_id: str
    route: HandoffRoute | None = None

    @property
    def rank(self) -> tuple[datetime, int, str]:
        return (self.occurred_at, STATE_ORDER[self.status], self.event_id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def meets_needs(self) -> bool:
        """Whether the handoff closed with its needs met."""
        return self.status is HandoffState.CLOSED and self.outcome in MEETING_OUTCOMES


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentEntry:
    """One consent decision for one purpose and scope."""

    granted: bool
    occurred_at: datetime
    event_id: str
    agency: str

    @property
    def rank(self) -> tuple[datetime, bool, str]:
        """Latest wins; at the same instant a withdrawal beats a grant (the safer reading)."""
        return (self.occurred_at, not self.granted, self.event_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentScopes:
    """The latest decision for every team, and for single teams, of one purpose."""

    every_team: ConsentEntry | None = None
    teams: Mapping[str, ConsentEntry] = field(default_factory=dict)

    def decision_for(self, team: str) -> ConsentEntry | None:
        """The decision that applies to ``team``: the later of the every-team one and its own."""
        candidates = [c for c in (self.every_team, self.teams.get(team)) if c is not None]
        return max(candidates, key=lambda entry: entry.rank, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConcernEntry:
    """A volunteer's concern: what relationships notice before services do."""

    occurred_at: datetime
    volunteer_id: str
    action: VolunteerActionKind
    note: str | None
    event_id: str
