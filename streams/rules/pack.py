"""A rule pack as data: what integration engineers write in YAML, validated before any use.

Rules are declarative so that anyone can read what raises an alert (no opaque risk scores)
and tune a threshold without touching agent code. Every model is frozen and rejects unknown
keys, so a misspelt key is an error that names it rather than a rule silently ignored.

A rule has exactly one condition:

- ``count``: matching events in a window before each matching event (optionally distinct
  agencies or teams, optionally only while the person has no open handoff);
- ``silence``: a pattern of activity, then no activity for a while (an absence);
- ``spike``: a place's referrals for one need in a recent window against the mean of the
  same-length periods before it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Final, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from schemas.models import ContactOutcome, Need, Severity
from schemas.topics import EventKind

_DURATION = re.compile(r"(?P<amount>\d+)(?P<unit>[smhdw])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _duration(value: object) -> object:
    """``10d``, ``15m``, ``4w``: short enough to read in a rule, and never ambiguous."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        return timedelta(**{_UNITS[match["unit"]]: int(match["amount"])})
    raise ValueError("expected a duration such as 10d, 12h, 15m or 4w")


#: A length of event time, written as a whole number of s, m, h, d or w.
Duration = Annotated[timedelta, BeforeValidator(_duration)]
#: A rule id: lower-case words joined by hyphens, as in the default pack.
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]

#: Kinds a rule can look at; an erasure deletes a person's rule state instead.
OBSERVED_KINDS: Final = frozenset(EventKind) - {EventKind.ERASURE}


class PackModel(BaseModel):
    """Base of the pack's models: immutable, and strict about which keys exist."""

    model_config = ConfigDict(extra="forbid", frozen=True)


E = TypeVar("E", bound=StrEnum)


def _in_order(members: Iterable[E], enum: type[E]) -> tuple[E, ...]:
    """``members`` once each, in the enum's order, so that explanations read the same way."""
    chosen = set(members)
    return tuple(member for member in enum if member in chosen)


class EventFilter(PackModel):
    """Which events a condition counts: of one of ``kinds``, and passing each narrowing that
    applies to its kind (outcomes to contacts, needs to referrals and contacts, a concern to
    volunteer actions); so ``kinds: [contact, referral]`` with ``outcomes: [missed]`` counts
    missed contacts and every referral."""

    kinds: Annotated[frozenset[EventKind], Field(min_length=1)]
    #: Contacts only: the outcomes that count.
    outcomes: Annotated[frozenset[ContactOutcome], Field(min_length=1)] | None = None
    #: Referrals' needs and contacts' observed needs: any of these counts.
    needs: Annotated[frozenset[Need], Field(min_length=1)] | None = None
    #: Volunteer actions only: whether a concern was raised.
    concern_raised: bool | None = None

    @model_validator(mode="after")
    def _fits_its_kinds(self) -> Self:
        if EventKind.ERASURE in self.kinds:
            raise ValueError("an erasure deletes the person's state; no rule can count it")
        if self.outcomes is not None and EventKind.CONTACT not in self.kinds:
            raise ValueError("outcomes apply to contacts: add contact to kinds")
        if self.needs is not None and not self.kinds & {EventKind.REFERRAL, EventKind.CONTACT}:
            raise ValueError("needs apply to referrals and contacts: add one to kinds")
        if self.concern_raised is not None and EventKind.VOLUNTEER_ACTION not in self.kinds:
            raise ValueError("concern_raised applies to volunteer actions: add volunteer-action")
        return self

    @property
    def ordered_kinds(self) -> tuple[EventKind, ...]:
        return _in_order(self.kinds, EventKind)

    @property
    def ordered_outcomes(self) -> tuple[ContactOutcome, ...]:
        return _in_order(self.outcomes or (), ContactOutcome)

    @property
    def ordered_needs(self) -> tuple[Need, ...]:
        return _in_order(self.needs or (), Need)


#: Anything from anyone: what breaks a silence unless a rule says otherwise.
ANY_ACTIVITY: Final = EventFilter(kinds=OBSERVED_KINDS)


class Distinct(StrEnum):
    """What a count counts: events, or the distinct agencies or teams behind them."""

    EVENTS = "events"
    AGENCIES = "agencies"
    TEAMS = "teams"


class CountCondition(PackModel):
    """At least ``at_least`` matching events (or distinct agencies or teams) within
    ``within`` up to a matching event; ``0s`` means that instant alone."""

    events: EventFilter
    at_least: Annotated[int, Field(ge=1)]
    within: Duration = timedelta(0)
    distinct: Distinct = Distinct.EVENTS
    #: Only while the person has no open handoff: a team around them already.
    unless_open_handoff: bool = False

    @model_validator(mode="after")
    def _sensible(self) -> Self:
        if self.within < timedelta(0):
            raise ValueError("within must not be negative")
        if self.distinct is Distinct.TEAMS and not self.events.kinds & {
            EventKind.CONTACT,
            EventKind.REFERRAL,
        }:
            raise ValueError("teams are known for contacts and referrals: add one to kinds")
        return self


class SilenceCondition(PackModel):
    """At least ``at_least`` ``pattern`` events within ``within`` up to the last activity,
    then no activity (``broken_by``, anything by default) for ``quiet_for``."""

    pattern: EventFilter
    at_least: Annotated[int, Field(ge=1)]
    within: Duration
    quiet_for: Duration
    broken_by: EventFilter = ANY_ACTIVITY

    @model_validator(mode="after")
    def _positive(self) -> Self:
        if self.within <= timedelta(0) or self.quiet_for <= timedelta(0):
            raise ValueError("within and quiet_for must be longer than zero")
        return self


class SpikeCondition(PackModel):
    """A place's referrals for one need within ``within`` are at least ``factor`` times the
    mean of the ``baseline_periods`` periods of the same length before, and ``at_least``."""

    within: Duration
    baseline_periods: Annotated[int, Field(ge=1)]
    factor: Annotated[float, Field(gt=0)]
    at_least: Annotated[int, Field(ge=1)]
    #: The needs watched; every need when absent.
    needs: Annotated[frozenset[Need], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _positive(self) -> Self:
        if self.within <= timedelta(0):
            raise ValueError("within must be longer than zero")
        return self

    @property
    def baseline(self) -> timedelta:
        return self.within * self.baseline_periods

    @property
    def watched(self) -> tuple[Need, ...]:
        return _in_order(self.needs or Need, Need)


class Routing(StrEnum):
    """Who an alert goes to."""

    #: The teams with a current relationship with the person, else their place's coordinator.
    RELATIONSHIP_TEAMS = "relationship-teams"
    #: The coordinator team of the place (the person's latest place, for a person's rule).
    PLACE_COORDINATOR = "place-coordinator"


Condition = CountCondition | SilenceCondition | SpikeCondition


class Rule(PackModel):
    """One rule: its condition, how strongly and to whom it speaks, and how often."""

    id: RuleId
    severity: Severity
    routing: Routing
    #: After an alert, the same rule stays quiet for the same subject this long.
    cooldown: Duration
    count: CountCondition | None = None
    silence: SilenceCondition | None = None
    spike: SpikeCondition | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> Self:
        given = [c for c in (self.count, self.silence, self.spike) if c is not None]
        if len(given) != 1:
            raise ValueError("give exactly one condition: count, silence or spike")
        if self.cooldown < timedelta(0):
            raise ValueError("cooldown must not be negative")
        if self.spike is not None and self.routing is not Routing.PLACE_COORDINATOR:
            raise ValueError("a spike is about a place: route it to place-coordinator")
        return self

    @property
    def condition(self) -> Condition:
        condition = self.count or self.silence or self.spike
        assert condition is not None  # the validator guarantees one
        return condition

    @property
    def lookback(self) -> timedelta:
        """How far before a moment of evaluation the rule looks: what state must keep."""
        match self.condition:
            case CountCondition(within=within):
                return within
            case SilenceCondition(within=within, quiet_for=quiet_for):
                return within + quiet_for
            case SpikeCondition() as spike:
                return spike.within + spike.baseline


class RulePack(PackModel):
    """Every rule, and the settings of event time they share."""

    #: How late an event may arrive and still be judged as if it had been on time.
    allowed_lateness: Duration = timedelta(minutes=15)
    #: A team seen this long before an alert still has a current relationship with the person.
    current_relationship: Duration = timedelta(days=90)
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        if self.allowed_lateness < timedelta(0) or self.current_relationship <= timedelta(0):
            raise ValueError("allowed_lateness must not be negative, current_relationship positive")
        first: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.id in first:
                raise ValueError(
                    f"rules[{index}] ({rule.id}).id: the same id as rules[{first[rule.id]}]"
                )
            first[rule.id] = index
        return self

    @property
    def person_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.spike is None)

    @property
    def place_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.spike is not None)

    def horizon(self, rules: Iterable[Rule]) -> timedelta:
        """The longest lookback of ``rules``: older activity can be forgotten."""
        return max((rule.lookback for rule in rules), default=timedelta(0))

    @property
    def person_filters(self) -> tuple[EventFilter, ...]:
        """Every filter of the person rules: an event none matches need not be kept."""
        filters: list[EventFilter] = []
        for rule in self.person_rules:
            match rule.condition:
                case CountCondition(events=events):
                    filters.append(events)
                case SilenceCondition(pattern=pattern, broken_by=broken_by):
                    filters.extend((pattern, broken_by))
        return tuple(filters)

    @property
    def tracks_handoffs(self) -> bool:
        return any(rule.count is not None and rule.count.unless_open_handoff for rule in self.rules)
