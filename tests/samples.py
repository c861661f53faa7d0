"""One fully populated, valid instance of every contract, for tests to reuse.

Every optional field is set, so that a round trip exercises every branch of every union;
times carry a +01:00 offset (British Summer Time), as agencies send them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import UUID

from schemas.models import (
    AgencyEvent,
    Alert,
    AlertEvidence,
    AlertSubjectKind,
    ConsentChange,
    ConsentPurpose,
    Contact,
    ContactChannel,
    ContactOutcome,
    ContactSummary,
    ContextPack,
    ContractModel,
    DeclineReason,
    ErasureRequest,
    Handoff,
    HandoffOutcome,
    HandoffState,
    HandoffUpdate,
    HandoffUpdateStatus,
    IdentityDecision,
    IdentityDecisionKind,
    Need,
    PersonEvent,
    PersonLink,
    PersonRef,
    PersonReset,
    PlaceRef,
    Referral,
    Severity,
    Urgency,
    VolunteerAction,
    VolunteerActionKind,
)

BST = timezone(timedelta(hours=1))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in June 2024, UK summer time."""
    return datetime(2024, 6, day, hour, minute, tzinfo=BST)


def sample_person() -> PersonRef:
    return PersonRef(
        local_id="council-4471",
        given_name="Ada",
        family_name="Example",
        birth_date=date(1941, 3, 14),
        postcode="ZZ99 3AA",
        nhs_number="9990000018",
        address="1 Test Street, Exampleton",
    )


def sample_place() -> PlaceRef:
    return PlaceRef(place_id="E01000001")


def _common(n: int, agency: str) -> dict[str, object]:
    """The fields every agency event starts with; ``n`` keeps event ids apart."""
    return {
        "event_id": UUID(int=n),
        "occurred_at": at(3, 9 + n),
        "agency": agency,
        "person": sample_person(),
        "place": sample_place(),
    }


def sample_referral() -> Referral:
    return Referral(
        **_common(1, "council"),
        referral_id="ref-1",
        from_team="adult-social-care",
        to_service="food-bank",
        needs=[Need.FOOD, Need.MONEY],
        urgency=Urgency.SOON,
        consent_to_share=True,
        note="Lives alone; prefers a morning call.",
    )


def sample_contact() -> Contact:
    return Contact(
        **_common(2, "nhs-trust"),
        team="district-nursing",
        professional_id="nurse-17",
        channel=ContactChannel.VISIT,
        outcome=ContactOutcome.NO_ANSWER,
        needs_observed=[Need.PHYSICAL_HEALTH, Need.LONELINESS],
    )


def sample_volunteer_action() -> VolunteerAction:
    return VolunteerAction(
        **_common(3, "good-neighbours"),
        volunteer_id="vol-9",
        action=VolunteerActionKind.SHOPPING,
        concern_raised=True,
        note="Fridge nearly empty.",
    )


def sample_consent_change() -> ConsentChange:
    return ConsentChange(
        **_common(4, "council"),
        purpose=ConsentPurpose.PREVENTION,
        granted=True,
        team="adult-social-care",
    )


def sample_handoff_update() -> HandoffUpdate:
    return HandoffUpdate(
        **_common(5, "food-bank"),
        handoff_id="handoff-1",
        status=HandoffUpdateStatus.CLOSED,
        reason=DeclineReason.OTHER,
        outcome=HandoffOutcome.HELPED,
    )


def sample_erasure_request() -> ErasureRequest:
    return ErasureRequest(**_common(6, "council"), reason="Subject access and erasure request.")


def sample_events() -> list[AgencyEvent]:
    """One of each agency event, in the order of ``schemas.models.AGENCY_EVENTS``."""
    return [
        sample_referral(),
        sample_contact(),
        sample_volunteer_action(),
        sample_consent_change(),
        sample_handoff_update(),
        sample_erasure_request(),
    ]


def sample_alert() -> Alert:
    return Alert(
        alert_id="alert-missed-contacts-1",
        rule_id="missed-contacts",
        subject_kind=AlertSubjectKind.PERSON,
        subject="pk-5f2c",
        severity=Severity.HIGH,
        teams=["district-nursing", "adult-social-care"],
        explanation="Three contacts were missed in a week after a volunteer raised a concern.",
        evidence=AlertEvidence(
            event_ids=[str(UUID(int=2)), str(UUID(int=3))],
            counts={"missed_contacts": 3, "concerns": 1},
            window_start=at(1, 0),
            window_end=at(8, 0),
        ),
        raised_at=at(3, 14),
    )


def sample_handoff() -> Handoff:
    return Handoff(
        handoff_id="handoff-1",
        referral_id="ref-1",
        person_key="pk-5f2c",
        from_team="adult-social-care",
        service_id="food-bank",
        to_team="food-bank-north",
        state=HandoffState.DECLINED,
        needs=[Need.FOOD],
        urgency=Urgency.URGENT,
        accept_by=at(4, 10),
        context=ContextPack(
            open_needs=[Need.FOOD, Need.LONELINESS],
            services_involved=["district-nursing"],
            volunteers_involved=1,
            recent_contacts=[
                ContactSummary(
                    team="district-nursing", outcome=ContactOutcome.MISSED, occurred_at=at(2, 11)
                )
            ],
            note="Lives alone; prefers a morning call.",
            sharing_basis="consent_to_share",
            limited=True,
        ),
        reason=DeclineReason.NO_CAPACITY,
        outcome=HandoffOutcome.REFERRED_ON,
        occurred_at=at(3, 15),
        event_id=UUID(int=7),
    )


def sample_person_event() -> PersonEvent:
    """A contact after identity resolution."""
    return PersonEvent.of("pk-3f9a1c2e", sample_contact())


def sample_identity_decision() -> IdentityDecision:
    """An engineer's merge of a provisional person into the person a review suggested."""
    return IdentityDecision(
        decision_id=UUID(int=8),
        kind=IdentityDecisionKind.MERGE,
        person_key="pk-77b0d4e1",
        into="pk-3f9a1c2e",
        links=[],
        engineer="eng-1",
        decided_at=at(4, 9),
    )


def sample_split() -> IdentityDecision:
    """An engineer's split of one agency's record away from a person it was wrongly put with."""
    return IdentityDecision(
        decision_id=UUID(int=9),
        kind=IdentityDecisionKind.SPLIT,
        person_key="pk-3f9a1c2e",
        links=[PersonLink(agency="allotment-group", local_id="member-0042")],
        engineer="eng-1",
        decided_at=at(4, 10),
    )


def sample_person_reset() -> PersonReset:
    """The reset of the person that merge moved links away from."""
    return PersonReset(person_key="pk-77b0d4e1", decision_id=UUID(int=8), decided_at=at(4, 9))


def sample_messages() -> list[ContractModel]:
    """Every record that travels as a message, in the order of ``schemas.models.MESSAGES``."""
    return [
        *sample_events(),
        sample_alert(),
        sample_handoff(),
        sample_person_event(),
        sample_identity_decision(),
        sample_person_reset(),
    ]
