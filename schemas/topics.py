"""Where each contract travels: the event kinds agencies publish and the backbone's topics.

Topic names carry a prefix so that several backbones (or tests) can share one cluster
without seeing each other's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    """The kinds of event an agency publishes, as named in the ingest URL."""

    REFERRAL = "referral"
    CONTACT = "contact"
    VOLUNTEER_ACTION = "volunteer-action"
    CONSENT = "consent"
    HANDOFF_UPDATE = "handoff-update"
    ERASURE = "erasure"


#: The record (Avro full name, without namespace) each kind carries.
RECORD_OF_KIND: dict[EventKind, str] = {
    EventKind.REFERRAL: "Referral",
    EventKind.CONTACT: "Contact",
    EventKind.VOLUNTEER_ACTION: "VolunteerAction",
    EventKind.CONSENT: "ConsentChange",
    EventKind.HANDOFF_UPDATE: "HandoffUpdate",
    EventKind.ERASURE: "ErasureRequest",
}

_SOURCE_SUFFIX: dict[EventKind, str] = {
    EventKind.REFERRAL: "referrals",
    EventKind.CONTACT: "contacts",
    EventKind.VOLUNTEER_ACTION: "volunteer-actions",
    EventKind.CONSENT: "consent-changes",
    EventKind.HANDOFF_UPDATE: "handoff-updates",
    EventKind.ERASURE: "erasure-requests",
}


@dataclass(frozen=True)
class TopicSpec:
    """A topic the backbone owns, with the settings it must be created with."""

    name: str
    partitions: int
    compacted: bool = False


@dataclass(frozen=True)
class Topics:
    """The backbone's topic names under one prefix."""

    prefix: str = "backbone"
    partitions: int = 4

    def source(self, kind: EventKind) -> str:
        """The topic agencies publish events of ``kind`` to."""
        return f"{self.prefix}.{_SOURCE_SUFFIX[kind]}"

    @property
    def sources(self) -> dict[EventKind, str]:
        """Every source topic by kind."""
        return {kind: self.source(kind) for kind in EventKind}

    @property
    def alerts(self) -> str:
        """Proactive-intervention alerts for frontline feeds."""
        return f"{self.prefix}.alerts"

    @property
    def handoffs(self) -> str:
        """Warm handoffs between services, one record per state change."""
        return f"{self.prefix}.handoffs"

    @property
    def identity_queue(self) -> str:
        """Accepted events awaiting identity resolution.

        One partition, so that a single matcher sees every person: matching against half
        of the people would split one person into two.
        """
        return f"{self.prefix}.identity-queue"

    @property
    def person_events(self) -> str:
        """Events after identity resolution, keyed by person key, identifiers removed."""
        return f"{self.prefix}.person-events"

    @property
    def place_events(self) -> str:
        """Person events that name a place, keyed by place id, for the place views; an
        erasure goes to every partition, since any place may name the person."""
        return f"{self.prefix}.place-events"

    @property
    def dead_letters(self) -> str:
        """Anything that failed validation or decoding, with its original bytes."""
        return f"{self.prefix}.dead-letters"

    def kind_of(self, topic: str) -> EventKind:
        """The event kind a source topic carries; ``KeyError`` for other topics."""
        for kind, name in self.sources.items():
            if name == topic:
                return kind
        raise KeyError(topic)

    def specs(self) -> list[TopicSpec]:
        """Every topic the contracts name, for pre-creation and deployment checks."""
        names = [
            *self.sources.values(),
            self.person_events,
            self.place_events,
            self.alerts,
            self.handoffs,
            self.dead_letters,
        ]
        return [TopicSpec(name, self.partitions) for name in names] + [
            TopicSpec(self.identity_queue, 1)
        ]
