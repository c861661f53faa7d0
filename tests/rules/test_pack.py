"""Rule packs as data: the default pack, overriding it in YAML, and errors that say where."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from schemas.models import ContactOutcome, Severity
from schemas.topics import EventKind
from streams.rules import RulePackError, default_rule_pack, load_rule_pack
from streams.rules.pack import Distinct, Routing
from tests.rules.support import DEFAULT_TEXT, contact, days, raised, run


def test_the_default_pack_has_the_fixed_ids_in_order() -> None:
    assert [rule.id for rule in default_rule_pack().rules] == [
        "gone-quiet",
        "missed-contacts",
        "many-services-no-lead",
        "volunteer-concern",
        "place-need-spike",
    ]


def test_the_default_thresholds_are_those_of_issue_5() -> None:
    rules = {rule.id: rule for rule in default_rule_pack().rules}
    quiet, missed = rules["gone-quiet"].silence, rules["missed-contacts"].count
    services, concern = rules["many-services-no-lead"].count, rules["volunteer-concern"].count
    spike = rules["place-need-spike"].spike
    assert quiet is not None
    assert missed is not None
    assert services is not None
    assert concern is not None
    assert spike is not None

    assert quiet.pattern.kinds == {EventKind.CONTACT, EventKind.VOLUNTEER_ACTION}
    assert (quiet.at_least, quiet.within, quiet.quiet_for) == (3, timedelta(28), timedelta(10))
    assert quiet.broken_by.kinds == set(EventKind) - {EventKind.ERASURE}
    assert missed.events.ordered_outcomes == (ContactOutcome.MISSED, ContactOutcome.NO_ANSWER)
    assert (missed.at_least, missed.within) == (2, timedelta(14))
    assert services.events.kinds == {EventKind.CONTACT, EventKind.REFERRAL}
    assert (services.distinct, services.at_least, services.within) == (
        Distinct.AGENCIES,
        3,
        timedelta(30),
    )
    assert services.unless_open_handoff
    assert (concern.events.concern_raised, concern.at_least, concern.within) == (
        True,
        1,
        timedelta(0),
    )
    assert (spike.within, spike.baseline_periods, spike.factor, spike.at_least) == (
        timedelta(7),
        4,
        2,
        5,
    )
    assert spike.needs is None
    assert rules["place-need-spike"].routing is Routing.PLACE_COORDINATOR
    assert all(rule.severity in Severity for rule in rules.values())


def test_a_threshold_is_tuned_by_overriding_it_in_yaml() -> None:
    pack = load_rule_pack(DEFAULT_TEXT.replace("quiet_for: 10d", "quiet_for: 7d"))
    events = [contact(1, 0), contact(2, 5), contact(3, 10)]

    assert [a.raised_at for a in raised(run(events, pack), "gone-quiet")] == [days(17)]


def test_a_pack_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT_TEXT, encoding="utf-8")

    assert load_rule_pack(path) == default_rule_pack()


RULE = """
rules:
  - id: quiet-neighbour
    severity: high
    routing: relationship-teams
    cooldown: 14d
    count:
      events: {kinds: [contact]}
      at_least: 2
      within: 14d
"""


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("within: 14d", "within: 14 days"), "rules[0] (quiet-neighbour).count.within: expected"),
        (("cooldown: 14d", "cooldown: 14"), "rules[0] (quiet-neighbour).cooldown: expected"),
        (("at_least: 2", "at_least: 0"), "rules[0] (quiet-neighbour).count.at_least: Input"),
        (("at_least: 2", "at_leest: 2"), "rules[0] (quiet-neighbour).count.at_leest: Extra"),
        (("severity: high", "severity: urgent"), "rules[0] (quiet-neighbour).severity: Input"),
        (("[contact]", "[contacts]"), "rules[0] (quiet-neighbour).count.events.kinds[0]: Input"),
        (("[contact]", "[erasure]"), "rules[0] (quiet-neighbour).count.events: an erasure"),
        (
            ("{kinds: [contact]}", "{kinds: [referral], outcomes: [missed]}"),
            "rules[0] (quiet-neighbour).count.events: outcomes apply to contacts",
        ),
        (
            ("{kinds: [contact]}", "{kinds: [contact], concern_raised: true}"),
            "rules[0] (quiet-neighbour).count.events: concern_raised applies",
        ),
        (("id: quiet-neighbour", "id: Quiet Neighbour"), "rules[0] (Quiet Neighbour).id: String"),
        (("    severity: high\n", ""), "rules[0] (quiet-neighbour).severity: Field required"),
        (("  - id: quiet-neighbour\n    ", "  - "), "rules[0].id: Field required"),
        (
            ("routing: relationship-teams", "routing: everyone"),
            "rules[0] (quiet-neighbour).routing",
        ),
    ],
)
def test_an_invalid_rule_is_named_with_the_key_at_fault(
    change: tuple[str, str], problem: str
) -> None:
    text = RULE.replace(*change)
    assert text != RULE

    with pytest.raises(RulePackError) as raised_error:
        load_rule_pack(text)

    assert any(p.startswith(problem) for p in raised_error.value.problems), raised_error.value


def test_a_rule_with_no_condition_is_refused() -> None:
    text = RULE.split("    count:", maxsplit=1)[0]

    with pytest.raises(RulePackError, match=r"rules\[0\] \(quiet-neighbour\): give exactly one"):
        load_rule_pack(text)


def test_a_spike_must_go_to_the_place_coordinator() -> None:
    text = DEFAULT_TEXT.replace("routing: place-coordinator", "routing: relationship-teams")

    with pytest.raises(RulePackError, match=r"rules\[4\] \(place-need-spike\): a spike is about"):
        load_rule_pack(text)


def test_two_rules_with_one_id_are_refused() -> None:
    text = DEFAULT_TEXT.replace("id: volunteer-concern", "id: missed-contacts")

    with pytest.raises(
        RulePackError, match=r"rules\[3\] \(missed-contacts\)\.id: the same id as rules\[1\]"
    ):
        load_rule_pack(text)


def test_every_problem_is_reported_at_once() -> None:
    text = DEFAULT_TEXT.replace("cooldown: 14d", "cooldown: soon")

    with pytest.raises(RulePackError) as raised_error:
        load_rule_pack(text)

    assert [p.split(":")[0] for p in raised_error.value.problems] == [
        "rules[0] (gone-quiet).cooldown",
        "rules[1] (missed-contacts).cooldown",
    ]


def test_invalid_yaml_is_refused_with_its_position() -> None:
    with pytest.raises(RulePackError, match=r"not valid YAML at line 3: expected ',' or ']'"):
        load_rule_pack("rules:\n  - id: [unclosed\n")


def test_a_pack_must_be_a_mapping_with_rules() -> None:
    with pytest.raises(RulePackError, match="Input should be a valid dictionary"):
        load_rule_pack("- gone-quiet\n")
    with pytest.raises(RulePackError, match="rules: Field required"):
        load_rule_pack("allowed_lateness: 5m\n")


def test_settings_of_event_time_are_validated() -> None:
    with pytest.raises(RulePackError, match="allowed_lateness: expected a duration"):
        load_rule_pack("allowed_lateness: late\nrules: []\n")
