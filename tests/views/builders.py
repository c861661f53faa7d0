"""Valid events for the view tests, made from tests/samples.py by changing a few fields.

Every event goes through its contract's validation, so the folds only ever see what an
agency could send. The hypothesis strategies vary what the folds look at (ids, times,
teams, outcomes, needs, volunteers, consent, handoffs) and draw times from a coarse grid,
so that events at the same instant, where tie-breaks decide, are common.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import strategies as st

from schemas.models import (
    AgencyEvent,
    ConsentChange,
    ConsentPurpose,
    Contact,
    ContactChannel,
    ContactOutcome,
    ContractModel,
    DeclineReason,
    ErasureRequest,
    Handoff,
    HandoffOutcome,
    HandoffState,
    HandoffUpdate,
    HandoffUpdateStatus,
    Need,
    Referral,
    Urgency,
    VolunteerAction,
    VolunteerActionKind,
)
from tests.samples import (
    sample_consent_change,
    sample_contact,
    sample_erasure_request,
    sample_handoff,
    sample_handoff_update,
    sample_referral,
    sample_volunteer_action,
)

M = TypeVar("M", bound=ContractModel)

#: A Monday, so that week arithmetic in tests is easy to read.
START = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
PERSON = "p0123456789abcdef0123456789abcdef"
PLACE = "E01000001"
TEAMS = ("adult-social-care", "district-nursing", "housing-options")


def hours(count: float) -> datetime:
    return START + timedelta(hours=count)


def vary(sample: M, changes: dict[str, Any]) -> M:
    """``sample`` with ``changes``, validated by its contract."""
    return type(sample).model_validate(sample.model_dump() | changes)


def _common(n: int, at: datetime, changes: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": UUID(int=n), "occurred_at": at, **changes}


def referral(n: int, at: datetime, **changes: Any) -> Referral:
    return vary(sample_referral(), _common(n, at, changes))


def contact(n: int, at: datetime, **changes: Any) -> Contact:
    return vary(sample_contact(), _common(n, at, changes))


def volunteer_action(n: int, at: datetime, **changes: Any) -> VolunteerAction:
    return vary(sample_volunteer_action(), _common(n, at, changes))


def consent(n: int, at: datetime, **changes: Any) -> ConsentChange:
    return vary(sample_consent_change(), _common(n, at, changes))


def handoff_update(n: int, at: datetime, **changes: Any) -> HandoffUpdate:
    return vary(sample_handoff_update(), _common(n, at, changes))


def erasure(n: int, at: datetime) -> ErasureRequest:
    return vary(sample_erasure_request(), _common(n, at, {}))


def handoff(n: int, at: datetime, **changes: Any) -> Handoff:
    """Routing's message for a handoff of ``PERSON``, open (sent) unless told otherwise."""
    base = {"person_key": PERSON, "state": HandoffState.SENT, "reason": None, "outcome": None}
    return vary(sample_handoff(), _common(n, at, base | changes))


#: Builds an event from its id number and its person's key.
Maker = Callable[[int, str], AgencyEvent | Handoff]

# Mostly spread over ten weeks, often at one of a few instants, where tie-breaks decide.
_times = st.one_of(st.integers(0, 3), st.integers(0, 60)).map(lambda step: hours(step * 29))
_teams = st.sampled_from(TEAMS)
_needs = st.lists(st.sampled_from(list(Need)), min_size=1, max_size=3)
# Mostly one place, so that a place's events meet each other.
_places = st.sampled_from(
    [None, {"place_id": PLACE}, {"place_id": PLACE}, {"place_id": "E01000002"}]
)


def _maker(sample: Callable[[], AgencyEvent], **fields: st.SearchStrategy[Any]) -> Any:
    changes = st.fixed_dictionaries({"occurred_at": _times, "place": _places, **fields})
    return changes.map(
        lambda drawn: lambda n, _key: vary(sample(), {"event_id": UUID(int=n), **drawn})
    )


def _handoff_maker() -> st.SearchStrategy[Maker]:
    changes = st.fixed_dictionaries(
        {
            "occurred_at": _times,
            "handoff_id": st.sampled_from(["handoff-1", "handoff-2"]),
            "referral_id": st.sampled_from(["ref-1", "ref-2"]),
            "to_team": _teams,
            "needs": st.lists(st.sampled_from(list(Need)), max_size=2),
            "state": st.sampled_from(list(HandoffState)),
            "outcome": st.sampled_from([None, *HandoffOutcome]),
        }
    )
    return changes.map(
        lambda drawn: (
            lambda n, key: vary(
                sample_handoff(), {"event_id": UUID(int=n), "person_key": key, **drawn}
            )
        )
    )


#: One event of any kind but erasure (the one order-sensitive step), as a Maker.
makers: st.SearchStrategy[Maker] = st.one_of(
    _maker(
        sample_referral,
        referral_id=st.sampled_from(["ref-1", "ref-2", "ref-3"]),
        from_team=_teams,
        needs=_needs,
        urgency=st.sampled_from(list(Urgency)),
    ),
    _maker(
        sample_contact,
        team=_teams,
        professional_id=st.sampled_from([None, "nurse-1", "nurse-2"]),
        channel=st.sampled_from(list(ContactChannel)),
        outcome=st.sampled_from(list(ContactOutcome)),
        needs_observed=st.one_of(st.none(), _needs),
    ),
    _maker(
        sample_volunteer_action,
        volunteer_id=st.sampled_from(["vol-1", "vol-2", "vol-3"]),
        action=st.sampled_from(list(VolunteerActionKind)),
        concern_raised=st.booleans(),
    ),
    _maker(
        sample_consent_change,
        purpose=st.sampled_from(list(ConsentPurpose)),
        granted=st.booleans(),
        team=st.one_of(st.none(), _teams),
    ),
    _maker(
        sample_handoff_update,
        handoff_id=st.sampled_from(["handoff-1", "handoff-2"]),
        status=st.sampled_from(list(HandoffUpdateStatus)),
        reason=st.sampled_from([None, *DeclineReason]),
        outcome=st.sampled_from([None, *HandoffOutcome]),
    ),
    _handoff_maker(),
)


@st.composite
def keyed_events(
    draw: st.DrawFn, persons: tuple[str, ...] = (PERSON,), max_size: int = 40
) -> list[tuple[str, AgencyEvent | Handoff]]:
    """Up to ``max_size`` distinct events, each paired with one of ``persons``' keys."""
    # Drawing the size first spreads sizes evenly; hypothesis's own lists are mostly short.
    size = draw(st.integers(0, max_size))
    pairs = st.tuples(st.sampled_from(persons), makers)
    drawn = draw(st.lists(pairs, min_size=size, max_size=size))
    return [(key, make(n, key)) for n, (key, make) in enumerate(drawn, start=1)]


def story(
    seed: int, persons: tuple[str, ...], count: int, *, first_id: int = 1
) -> list[tuple[str, AgencyEvent]]:
    """``count`` varied agency events over eight weeks, each paired with one of ``persons``:
    a reproducible stream for the agents' tests, which cannot draw from hypothesis."""
    rng = random.Random(seed)
    kinds: list[Callable[[int, datetime], AgencyEvent]] = [
        lambda n, at: referral(n, at, needs=rng.sample(list(Need), rng.randint(1, 3))),
        lambda n, at: contact(
            n,
            at,
            team=rng.choice(TEAMS),
            outcome=rng.choice(list(ContactOutcome)),
            needs_observed=rng.choice([None, [rng.choice(list(Need))]]),
        ),
        lambda n, at: volunteer_action(n, at, volunteer_id=rng.choice(["vol-1", "vol-2"])),
        lambda n, at: consent(n, at, granted=rng.random() < 0.7, team=rng.choice([None, *TEAMS])),
        lambda n, at: handoff_update(n, at, handoff_id=rng.choice(["handoff-1", "handoff-2"])),
    ]
    places = [None, {"place_id": PLACE}, {"place_id": PLACE}, {"place_id": "E01000002"}]
    pairs: list[tuple[str, AgencyEvent]] = []
    for n in range(first_id, first_id + count):
        event = rng.choice(kinds)(n, hours(rng.randrange(24 * 7 * 8)))
        pairs.append((rng.choice(persons), vary(event, {"place": rng.choice(places)})))
    return pairs
