"""A person's view: who is involved in their life, what they need, and what may be shared.

:func:`apply_person` folds one agency event into the view, purely (no I/O), returning a new
view and leaving the old one as it was.

**Order.** Kafka delivers at least once, and one person's events come from many agencies'
topics, so their arrival order is not their event order. Every field is therefore a function
of the *set* of events folded, not of their order: times are minima or maxima, "latest"
means greatest by event time with a fixed tie-break (see the ``rank`` of each entry), and
bounded windows keep the greatest items by event time. Folding the same events in any order
gives an equal view, with two documented limits:

- a bound on a merged collection (relationships, handoffs, referrals, teams with contacts:
  :data:`MAX_ENTRIES` each) that evicts an entry which later gets more events; the bounds are
  far above a real life and only stop a faulty feed from growing a view without end;
- a redelivered event older than every id in the window of :data:`RECENT_EVENTS` counts
  twice (relationship counts are the only sums); redelivery after a crash replays what
  arrived since the last commit, which is recent, so it is caught.

**Idempotency.** The event ids of the latest :data:`RECENT_EVENTS` events (by event time) are
kept, and an event already among them returns the view unchanged (the same object, so a
caller can skip writing it). Every other part is idempotent by construction.

**Needs.** A referral's ``needs`` and a contact's ``needs_observed`` open a need. A handoff
that closes with outcome helped or no_longer_needed closes the needs it carried (routing's
``needs``, else its referral's) at its time; a need observed after its latest close is open
again. Which needs a handoff carried is known only once routing's Handoff message has been
folded (:func:`apply_handoff`): a HandoffUpdate names the handoff and nothing else.

**Erasure** is not a fold: see :mod:`streams.views.erasure`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Final

from schemas.models import (
    AgencyEvent,
    ConsentChange,
    ConsentPurpose,
    Contact,
    ErasureRequest,
    Handoff,
    HandoffState,
    HandoffUpdate,
    Need,
    Referral,
    VolunteerAction,
)
from streams.views.common import (
    ErasureNotFoldedError,
    EventRank,
    ViewModel,
    evict_oldest,
    keep_latest,
    keep_latest_by,
    seen,
)
from streams.views.entries import (
    ENDING_STATES,
    ConcernEntry,
    ConsentEntry,
    ConsentScopes,
    ContactEntry,
    HandoffEntry,
    HandoffRoute,
    NeedObservations,
    ReferralEntry,
    Relationship,
    RelationshipKind,
)

#: Event ids kept to recognise a redelivered event.
RECENT_EVENTS: Final = 64
#: Contacts kept per team: enough to see a run of missed ones.
CONTACTS_PER_TEAM: Final = 5
#: Volunteers' concerns kept.
CONCERNS: Final = 5
#: Observation times kept per need, to date a need that opens again after a close.
NEED_OBSERVATIONS: Final = 8
#: The safety bound on each merged collection (see the module's docstring).
MAX_ENTRIES: Final = 500


class PersonView(ViewModel):
    """One person's view, keyed by their pseudonymous ``person_key``.

    Derived parts (open needs, open referrals and handoffs) are methods rather than fields,
    so that they are always computed from the facts, whatever order those arrived in.
    """

    person_key: str
    last_event_at: datetime | None = None
    #: need → when it was raised or observed.
    needs: Mapping[Need, NeedObservations] = {}
    #: team → its latest contacts, oldest first.
    contacts: Mapping[str, tuple[ContactEntry, ...]] = {}
    #: "kind:id" → the relationship.
    relationships: Mapping[str, Relationship] = {}
    #: referral_id → the referral as last reported.
    referrals: Mapping[str, ReferralEntry] = {}
    #: handoff_id → its latest state and route.
    handoffs: Mapping[str, HandoffEntry] = {}
    #: purpose → the latest decisions for every team and for single teams.
    consent: Mapping[ConsentPurpose, ConsentScopes] = {}
    #: the latest concerns volunteers raised, oldest first.
    concerns: tuple[ConcernEntry, ...] = ()
    #: (occurred_at, event_id) of the latest events folded, ascending.
    recent_events: tuple[EventRank, ...] = ()

    def open_needs(self) -> dict[Need, datetime]:
        """Each open need and since when it has been open."""
        closed: dict[Need, datetime] = {}
        for handoff in self.handoffs.values():
            if handoff.meets_needs:
                for need in self._needs_of(handoff):
                    if need not in closed or handoff.occurred_at > closed[need]:
                        closed[need] = handoff.occurred_at
        open_since = {
            need: observations.open_since(closed.get(need))
            for need, observations in self.needs.items()
        }
        return {need: since for need, since in open_since.items() if since is not None}

    def open_referrals(self) -> dict[str, ReferralEntry]:
        """Referrals none of whose handoffs has been closed or cancelled."""
        ended = {
            handoff.route.referral_id
            for handoff in self.handoffs.values()
            if handoff.route is not None and handoff.status in ENDING_STATES
        }
        return {key: entry for key, entry in self.referrals.items() if key not in ended}

    def open_handoffs(self) -> dict[str, HandoffEntry]:
        """Handoffs sent, accepted or in contact, not yet ended."""
        return {key: entry for key, entry in self.handoffs.items() if entry.is_open}

    def open_handoff_teams(self) -> set[str]:
        """The teams an open handoff is with, where routing has said which."""
        return {
            entry.route.to_team
            for entry in self.handoffs.values()
            if entry.is_open and entry.route is not None
        }

    def involved(self, kind: RelationshipKind) -> list[Relationship]:
        """The relationships of one kind, longest-standing first."""
        found = [entry for entry in self.relationships.values() if entry.kind is kind]
        return sorted(found, key=lambda entry: (entry.first_seen, entry.id))

    def _needs_of(self, handoff: HandoffEntry) -> tuple[Need, ...]:
        route = handoff.route
        if route is None:
            return ()
        if route.needs:
            return route.needs
        referral = self.referrals.get(route.referral_id)
        return () if referral is None else referral.needs


def apply_person(view: PersonView | None, person_key: str, event: AgencyEvent) -> PersonView:
    """``view`` (None for a person not seen yet) with ``event`` folded in.

    Raises :class:`~streams.views.common.ErasureNotFoldedError` for an ErasureRequest, and
    ValueError when ``view`` is another person's.
    """
    if isinstance(event, ErasureRequest):
        raise ErasureNotFoldedError("an ErasureRequest deletes the view: use streams.views.erasure")
    view = _view_of(view, person_key)
    at = event.occurred_at
    event_id = str(event.event_id)
    rank = (at, event_id)
    if seen(view.recent_events, rank):
        return view
    relationships = dict(view.relationships)
    _touch(relationships, RelationshipKind.AGENCY, event.agency, at)
    updates: dict[str, object]
    match event:
        case Referral():
            _touch(relationships, RelationshipKind.TEAM, event.from_team, at)
            updates = _referral(view, event, event_id)
        case Contact():
            _touch(relationships, RelationshipKind.TEAM, event.team, at)
            if event.professional_id is not None:
                _touch(relationships, RelationshipKind.PROFESSIONAL, event.professional_id, at)
            updates = _contact(view, event, event_id)
        case VolunteerAction():
            _touch(relationships, RelationshipKind.VOLUNTEER, event.volunteer_id, at)
            updates = _volunteer_action(view, event, event_id)
        case ConsentChange():
            updates = _consent(view, event, event_id)
        case HandoffUpdate():
            status = HandoffEntry(
                status=HandoffState(event.status.value),
                reason=event.reason,
                outcome=event.outcome,
                occurred_at=at,
                event_id=event_id,
            )
            updates = _handoff(view, event.handoff_id, status, None)
        case _:
            raise TypeError(f"no fold for {type(event).__name__}")
    if len(relationships) > MAX_ENTRIES:
        evict_oldest(relationships, MAX_ENTRIES, key=lambda entry: entry.last_seen)
    updates["relationships"] = relationships
    updates["recent_events"] = keep_latest(view.recent_events, rank, RECENT_EVENTS)
    if view.last_event_at is None or at > view.last_event_at:
        updates["last_event_at"] = at
    return view.model_copy(update=updates)


def apply_handoff(view: PersonView | None, handoff: Handoff) -> PersonView:
    """``view`` with a state change of a handoff from routing folded in: its state, and the
    route (team, referral, needs) that a HandoffUpdate does not carry.

    A handoff is the backbone's own record, not news of the person, so ``last_event_at``
    and relationships stay as they were.
    """
    view = _view_of(view, handoff.person_key)
    event_id = str(handoff.event_id)
    rank = (handoff.occurred_at, event_id)
    if seen(view.recent_events, rank):
        return view
    status = HandoffEntry(
        status=handoff.state,
        reason=handoff.reason,
        outcome=handoff.outcome,
        occurred_at=handoff.occurred_at,
        event_id=event_id,
    )
    route = HandoffRoute(
        referral_id=handoff.referral_id,
        from_team=handoff.from_team,
        service_id=handoff.service_id,
        to_team=handoff.to_team,
        needs=tuple(handoff.needs),
        occurred_at=handoff.occurred_at,
        event_id=event_id,
    )
    updates = _handoff(view, handoff.handoff_id, status, route)
    updates["recent_events"] = keep_latest(view.recent_events, rank, RECENT_EVENTS)
    return view.model_copy(update=updates)


def _view_of(view: PersonView | None, person_key: str) -> PersonView:
    if view is None:
        return PersonView(person_key=person_key)
    if view.person_key != person_key:
        raise ValueError("an event was folded into another person's view")
    return view


def _touch(
    relationships: dict[str, Relationship], kind: RelationshipKind, ident: str, at: datetime
) -> None:
    key = kind.value + ":" + ident
    old = relationships.get(key)
    if old is None:
        relationships[key] = Relationship(kind=kind, id=ident, first_seen=at, last_seen=at, count=1)
    else:
        relationships[key] = Relationship(
            kind=kind,
            id=ident,
            first_seen=min(old.first_seen, at),
            last_seen=max(old.last_seen, at),
            count=old.count + 1,
        )


def _observe(
    needs: Mapping[Need, NeedObservations], observed: Iterable[Need], at: datetime
) -> dict[Need, NeedObservations]:
    result = dict(needs)
    for need in observed:
        old = result.get(need)
        if old is None:
            result[need] = NeedObservations(first_seen=at, recent=(at,))
        else:
            result[need] = NeedObservations(
                first_seen=min(old.first_seen, at),
                recent=keep_latest(old.recent, at, NEED_OBSERVATIONS),
            )
    return result


def _referral(view: PersonView, event: Referral, event_id: str) -> dict[str, object]:
    updates: dict[str, object] = {"needs": _observe(view.needs, event.needs, event.occurred_at)}
    entry = ReferralEntry(
        needs=tuple(event.needs),
        urgency=event.urgency,
        from_team=event.from_team,
        to_service=event.to_service,
        consent_to_share=event.consent_to_share,
        occurred_at=event.occurred_at,
        event_id=event_id,
    )
    old = view.referrals.get(event.referral_id)
    if old is None or entry.rank > old.rank:
        referrals = {**view.referrals, event.referral_id: entry}
        evict_oldest(referrals, MAX_ENTRIES, key=lambda kept: kept.rank)
        updates["referrals"] = referrals
    return updates


def _contact(view: PersonView, event: Contact, event_id: str) -> dict[str, object]:
    entry = ContactEntry(
        occurred_at=event.occurred_at,
        outcome=event.outcome,
        channel=event.channel,
        professional_id=event.professional_id,
        event_id=event_id,
    )
    contacts = {
        **view.contacts,
        event.team: keep_latest_by(
            view.contacts.get(event.team, ()), entry, CONTACTS_PER_TEAM, _contact_rank
        ),
    }
    evict_oldest(contacts, MAX_ENTRIES, key=lambda kept: _contact_rank(kept[-1]))
    updates: dict[str, object] = {"contacts": contacts}
    if event.needs_observed:
        updates["needs"] = _observe(view.needs, event.needs_observed, event.occurred_at)
    return updates


def _contact_rank(entry: ContactEntry) -> EventRank:
    return (entry.occurred_at, entry.event_id)


def _volunteer_action(view: PersonView, event: VolunteerAction, event_id: str) -> dict[str, object]:
    if not event.concern_raised:
        return {}
    concern = ConcernEntry(
        occurred_at=event.occurred_at,
        volunteer_id=event.volunteer_id,
        action=event.action,
        note=event.note,
        event_id=event_id,
    )
    return {"concerns": keep_latest_by(view.concerns, concern, CONCERNS, _concern_rank)}


def _concern_rank(entry: ConcernEntry) -> EventRank:
    return (entry.occurred_at, entry.event_id)


def _consent(view: PersonView, event: ConsentChange, event_id: str) -> dict[str, object]:
    entry = ConsentEntry(
        granted=event.granted,
        occurred_at=event.occurred_at,
        event_id=event_id,
        agency=event.agency,
    )
    scopes = view.consent.get(event.purpose, ConsentScopes())
    if event.team is None:
        if scopes.every_team is not None and scopes.every_team.rank >= entry.rank:
            return {}
        scopes = replace(scopes, every_team=entry)
    else:
        old = scopes.teams.get(event.team)
        if old is not None and old.rank >= entry.rank:
            return {}
        scopes = replace(scopes, teams={**scopes.teams, event.team: entry})
    return {"consent": {**view.consent, event.purpose: scopes}}


def _handoff(
    view: PersonView, handoff_id: str, status: HandoffEntry, route: HandoffRoute | None
) -> dict[str, object]:
    """Merge a state (and routing's route, if any) into a handoff: each is kept latest-first."""
    old = view.handoffs.get(handoff_id)
    merged = status
    if old is not None:
        merged = old if old.rank >= status.rank else replace(status, route=old.route)
    if route is not None and (merged.route is None or route.rank > merged.route.rank):
        merged = replace(merged, route=route)
    if merged is old:
        return {}
    handoffs = {**view.handoffs, handoff_id: merged}
    evict_oldest(handoffs, MAX_ENTRIES, key=_handoff_age)
    return {"handoffs": handoffs}


def _handoff_age(entry: HandoffEntry) -> datetime:
    if entry.route is None:
        return entry.occurred_at
    return max(entry.occurred_at, entry.route.occurred_at)
