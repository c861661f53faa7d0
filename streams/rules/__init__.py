"""The rule engine's pure core: rule packs as data, the event-time clock, rule state, and
judging events and clock advances into explained alerts. No I/O: the stream agents keep the
states in tables and publish the alerts; :func:`replay_alerts` is their oracle and the
backtest."""

from streams.rules.alerts import alert_id
from streams.rules.clock import EventClock
from streams.rules.engine import (
    advance_person,
    advance_place,
    close_alert,
    next_due,
    on_person_event,
    on_place_event,
)
from streams.rules.loading import RulePackError, default_rule_pack, load_rule_pack
from streams.rules.pack import Rule, RulePack
from streams.rules.replay import replay_alerts
from streams.rules.state import PersonRuleState, PlaceRuleState

__all__ = [
    "EventClock",
    "PersonRuleState",
    "PlaceRuleState",
    "Rule",
    "RulePack",
    "RulePackError",
    "advance_person",
    "advance_place",
    "alert_id",
    "close_alert",
    "default_rule_pack",
    "load_rule_pack",
    "next_due",
    "on_person_event",
    "on_place_event",
    "replay_alerts",
]
