"""Helpers for the rule tests: person events on a day grid, and runs of the default pack.

Events come from tests/views/builders.py (each validated by its contract) wrapped as the
identity agent would wrap them; times are days after ``START`` (a Monday, 09:00 UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any

from schemas.models import (
    AgencyEvent,
    Alert,
    ContactOutcome,
    Handoff,
    PersonEvent,
)
from streams.rules import RulePack, default_rule_pack, replay_alerts
from tests.views import builders
from tests.views.builders import PERSON, PLACE, START

OTHER = "p-second"
#: The default pack's text, to change a setting or a threshold in.
DEFAULT_TEXT = files("streams.rules").joinpath("default_rules.yaml").read_text("utf-8")
#: Long after every test's events: the clock passes every deadline.
LATER = START + timedelta(days=400)


def days(count: float) -> datetime:
    return START + timedelta(days=count)


def of(event: AgencyEvent, person: str = PERSON) -> PersonEvent:
    return PersonEvent.of(person, event)


def contact(n: int, day: float, person: str = PERSON, **changes: Any) -> PersonEvent:
    """A completed contact with no place unless told otherwise."""
    fields = {"outcome": ContactOutcome.COMPLETED, "place": None, "needs_observed": None}
    return of(builders.contact(n, days(day), **(fields | changes)), person)


def missed(n: int, day: float, person: str = PERSON, **changes: Any) -> PersonEvent:
    return contact(n, day, person, **({"outcome": ContactOutcome.MISSED} | changes))


def referral(n: int, day: float, person: str = PERSON, **changes: Any) -> PersonEvent:
    return of(builders.referral(n, days(day), **({"place": None} | changes)), person)


def volunteer_action(n: int, day: float, person: str = PERSON, **changes: Any) -> PersonEvent:
    fields = {"concern_raised": False, "place": None}
    return of(builders.volunteer_action(n, days(day), **(fields | changes)), person)


def consent(n: int, day: float, person: str = PERSON) -> PersonEvent:
    return of(builders.consent(n, days(day), place=None), person)


def handoff_update(n: int, day: float, person: str = PERSON, **changes: Any) -> PersonEvent:
    return of(builders.handoff_update(n, days(day), **({"place": None} | changes)), person)


def handoff(n: int, day: float, **changes: Any) -> Handoff:
    return builders.handoff(n, days(day), **changes)


def food_referral(n: int, day: float, person: str = PERSON) -> PersonEvent:
    return referral(n, day, person, needs=["food"], place={"place_id": PLACE})


def run(
    events: Iterable[PersonEvent | Handoff],
    pack: RulePack | None = None,
    *,
    until: datetime | None = LATER,
    coordinators: Mapping[str, str] | None = None,
) -> list[Alert]:
    """The alerts the pack (the default one unless given) raises over ``events``."""
    return replay_alerts(
        events, pack or default_rule_pack(), until=until, coordinators=coordinators or {}
    )


def raised(alerts: Iterable[Alert], rule_id: str) -> list[Alert]:
    return [alert for alert in alerts if alert.rule_id == rule_id]


def ids(alerts: Iterable[Alert]) -> set[str]:
    return {alert.alert_id for alert in alerts}
