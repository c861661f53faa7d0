"""The Python face of the Avro contracts: one pydantic model or StrEnum per named Avro type.

The ``.avsc`` files are what travels and gets registered; these classes are what code handles.
Field names are the Avro ones, so ``model_dump()`` is already an Avro datum and JSON from
agencies validates directly. ``tests/test_contracts.py`` keeps the two from drifting apart.

Models are frozen and reject unknown fields: a misspelt field from an agency is an error that
names it, not data silently dropped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Final
from uuid import UUID

from annotated_types import Interval, MinLen
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    model_validator,
)

from schemas.topics import RECORD_OF_KIND, EventKind


def _utc_millis(value: datetime) -> datetime:
    """Normalise to UTC and drop sub-millisecond digits.

    Avro ``timestamp-millis`` keeps whole milliseconds, so truncating on the way in makes the
    model equal to what a round trip through Avro gives back.
    """
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("instant is outside the range of a UTC datetime") from exc
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


#: An instant with its offset (naive datetimes are rejected), in UTC, to the millisecond.
Timestamp = Annotated[AwareDatetime, AfterValidator(_utc_millis)]
#: Identifiers of people, events, teams and services.
Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
#: Names, postcodes and addresses.
Text = Annotated[str, StringConstraints(min_length=1, max_length=256)]
#: Free text written by people.
Note = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
#: A count that fits Avro's signed 64-bit ``long``.
Count = Annotated[int, Interval(ge=0, le=2**63 - 1)]


class ContractModel(BaseModel):
    """Base of every record model: immutable, and strict about which fields exist."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Need(StrEnum):
    """What a person needs help with."""

    FOOD = "food"
    HOUSING = "housing"
    MONEY = "money"
    LONELINESS = "loneliness"
    MENTAL_HEALTH = "mental_health"
    PHYSICAL_HEALTH = "physical_health"
    CARE = "care"
    EMPLOYMENT = "employment"
    SAFETY = "safety"
    OTHER = "other"


class Urgency(StrEnum):
    """How soon the receiving service should act."""

    ROUTINE = "routine"
    SOON = "soon"
    URGENT = "urgent"


class ContactChannel(StrEnum):
    """How the professional reached, or tried to reach, the person."""

    VISIT = "visit"
    PHONE = "phone"
    ONLINE = "online"
    IN_PERSON = "in_person"
    LETTER = "letter"
    OTHER = "other"


class ContactOutcome(StrEnum):
    """Whether a contact took place; missed contacts are an early warning sign."""

    COMPLETED = "completed"
    MISSED = "missed"
    NO_ANSWER = "no_answer"
    CANCELLED = "cancelled"


class VolunteerActionKind(StrEnum):
    """What a volunteer did for the person."""

    BEFRIENDING_CALL = "befriending_call"
    SHOPPING = "shopping"
    MEAL = "meal"
    LIFT = "lift"
    VISIT = "visit"
    OTHER = "other"


class ConsentPurpose(StrEnum):
    """What data may be shared for; each purpose is consented to separately."""

    DIRECT_CARE = "direct_care"
    PREVENTION = "prevention"


class HandoffUpdateStatus(StrEnum):
    """A state change the receiving service reports for a handoff."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    CONTACTED = "contacted"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class DeclineReason(StrEnum):
    """Why a service declined a handoff, so that the sender can act on it."""

    NOT_ELIGIBLE = "not_eligible"
    NO_CAPACITY = "no_capacity"
    COULD_NOT_CONTACT = "could_not_contact"
    PERSON_DECLINED = "person_declined"
    OTHER = "other"


class HandoffOutcome(StrEnum):
    """What came of a closed handoff, for learning which routes help."""

    HELPED = "helped"
    NOT_HELPED = "not_helped"
    REFERRED_ON = "referred_on"
    NO_LONGER_NEEDED = "no_longer_needed"


class HandoffState(StrEnum):
    """Where a handoff is in its life; expired means nobody accepted it in time."""

    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CONTACTED = "contacted"
    CLOSED = "closed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Severity(StrEnum):
    """How strongly an alert asks for attention."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class IdentityDecisionKind(StrEnum):
    """What an integration engineer decided about persons the matcher kept apart or joined."""

    MERGE = "merge"
    SPLIT = "split"


class AlertSubjectKind(StrEnum):
    """Whether an alert is about one person or about a place."""

    PERSON = "person"
    PLACE = "place"


class PersonRef(ContractModel):
    """A person as one agency knows them; only agency events carry personal identifiers."""

    local_id: Id
    given_name: Text | None = None
    family_name: Text | None = None
    birth_date: date | None = None
    postcode: Text | None = None
    nhs_number: Id | None = None
    address: Text | None = None


class PlaceRef(ContractModel):
    """An area, so that alerts can be raised about places as well as people."""

    place_id: Id


class AgencyEvent(ContractModel):
    """The fields every agency event starts with; not a contract of its own."""

    event_id: UUID
    occurred_at: Timestamp
    agency: Id
    person: PersonRef
    place: PlaceRef | None = None


class Referral(AgencyEvent):
    """A team refers a person to another service for help with one or more needs."""

    referral_id: Id
    from_team: Id
    to_service: Id | None = None
    needs: Annotated[list[Need], MinLen(1)]
    urgency: Urgency
    consent_to_share: bool
    note: Note | None = None


class Contact(AgencyEvent):
    """A professional contact with the person, or an attempt at one."""

    team: Id
    professional_id: Id | None = None
    channel: ContactChannel
    outcome: ContactOutcome
    needs_observed: list[Need] | None = None


class VolunteerAction(AgencyEvent):
    """Something a volunteer did for the person."""

    volunteer_id: Id
    action: VolunteerActionKind
    concern_raised: bool
    note: Note | None = None


class ConsentChange(AgencyEvent):
    """The person gives or withdraws consent for one purpose, for one team or all."""

    purpose: ConsentPurpose
    granted: bool
    team: Id | None = None


class HandoffUpdate(AgencyEvent):
    """The receiving service reports progress on a handoff."""

    handoff_id: Id
    status: HandoffUpdateStatus
    reason: DeclineReason | None = None
    outcome: HandoffOutcome | None = None


class ErasureRequest(AgencyEvent):
    """The person's data must be erased from the backbone's state."""

    reason: Note


class AlertEvidence(ContractModel):
    """What an alert was raised on, so that a frontline worker can check it."""

    event_ids: list[Id]
    counts: dict[Id, Count]
    window_start: Timestamp
    window_end: Timestamp


class Alert(ContractModel):
    """A proactive-intervention alert; names a person only by a pseudonymous key."""

    alert_id: Id
    rule_id: Id
    subject_kind: AlertSubjectKind
    subject: Id
    severity: Severity
    teams: list[Id]
    explanation: Note
    evidence: AlertEvidence
    raised_at: Timestamp


class ContactSummary(ContractModel):
    """One recent contact, reduced to what a receiving team needs to know."""

    team: Id
    outcome: ContactOutcome
    occurred_at: Timestamp


class ContextPack(ContractModel):
    """What the receiving team is told, limited to what the sharing basis allows."""

    open_needs: list[Need]
    services_involved: list[Id]
    volunteers_involved: Count
    recent_contacts: list[ContactSummary]
    note: Note | None = None
    sharing_basis: Id
    limited: bool


class Handoff(ContractModel):
    """One state change of a warm handoff; names a person only by a pseudonymous key."""

    handoff_id: Id
    referral_id: Id
    person_key: Id
    from_team: Id
    service_id: Id
    to_team: Id
    state: HandoffState
    needs: list[Need]
    urgency: Urgency
    accept_by: Timestamp
    context: ContextPack
    reason: DeclineReason | None = None
    outcome: HandoffOutcome | None = None
    occurred_at: Timestamp
    event_id: UUID


#: The events agencies publish, one per :class:`~schemas.topics.EventKind`.
class PersonEvent(ContractModel):
    """An agency event after identity resolution, with no personal identifiers left in it."""

    person_key: Id
    event: Referral | Contact | VolunteerAction | ConsentChange | HandoffUpdate | ErasureRequest

    @classmethod
    def of(cls, person_key: str, event: AgencyEvent) -> PersonEvent:
        """``event`` for ``person_key``, its person reference reduced to the local id."""
        scrubbed = event.model_copy(update={"person": PersonRef(local_id=event.person.local_id)})
        return cls(person_key=person_key, event=scrubbed)


class PersonLink(ContractModel):
    """One agency's record of a person, named by the agency and its own id of them."""

    agency: Id
    local_id: Id


class IdentityDecision(ContractModel):
    """An integration engineer's merge or split, applied in order by the identity agent.

    It names agencies' local ids, so it travels only on the identity queue.
    """

    decision_id: UUID
    kind: IdentityDecisionKind
    #: The person merged away, or the person split.
    person_key: Id
    #: For a merge, the person kept.
    into: Id | None = None
    #: For a split, the links that move to a new person.
    links: list[PersonLink]
    engineer: Id
    decided_at: Timestamp

    @model_validator(mode="after")
    def _fits_its_kind(self) -> IdentityDecision:
        """A merge names the person kept and no links; a split names links and no ``into``."""
        if self.kind is IdentityDecisionKind.MERGE:
            if self.into is None or self.links:
                raise ValueError("a merge names the person kept (into) and no links")
            if self.into == self.person_key:
                raise ValueError("a person cannot be merged into itself")
        elif self.into is not None or not self.links:
            raise ValueError("a split names the links that move and no into")
        return self


class PersonReset(ContractModel):
    """Links moved away from a person: views drop the person, and replayed events rebuild it.

    Travels on person-events beside :class:`PersonEvent`, keyed by the person key.
    """

    person_key: Id
    decision_id: UUID
    decided_at: Timestamp


AGENCY_EVENTS: Final[tuple[type[AgencyEvent], ...]] = (
    Referral,
    Contact,
    VolunteerAction,
    ConsentChange,
    HandoffUpdate,
    ErasureRequest,
)

#: Records that travel as whole messages, each under its own registry subject.
MESSAGES: Final[tuple[type[ContractModel], ...]] = (
    *AGENCY_EVENTS,
    Alert,
    Handoff,
    PersonEvent,
    IdentityDecision,
    PersonReset,
)

#: Every class that has an ``.avsc`` of the same name; the catalog pairs them at load.
NAMED_TYPES: Final[tuple[type[ContractModel] | type[StrEnum], ...]] = (
    Need,
    Urgency,
    ContactChannel,
    ContactOutcome,
    VolunteerActionKind,
    ConsentPurpose,
    HandoffUpdateStatus,
    DeclineReason,
    HandoffOutcome,
    HandoffState,
    Severity,
    AlertSubjectKind,
    IdentityDecisionKind,
    PersonRef,
    PersonLink,
    PlaceRef,
    AlertEvidence,
    ContactSummary,
    ContextPack,
    *MESSAGES,
)

_EVENT_BY_RECORD: Final = {model.__name__: model for model in AGENCY_EVENTS}

#: The model each event kind is validated against; a kind without a model fails at import.
MODEL_OF_KIND: Final[dict[EventKind, type[AgencyEvent]]] = {
    kind: _EVENT_BY_RECORD[record] for kind, record in RECORD_OF_KIND.items()
}
