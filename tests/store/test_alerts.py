"""Alerts in the store, on SQLite and on PostgreSQL alike: recorded once, routed per team,
acknowledged and resolved only by their teams, each change at a later feed position."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from schemas.models import Alert, AlertEvidence, AlertSubjectKind, Severity
from streams.store import AlertStatus, FeedAlert, Outcome, Refused, Store

RAISED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def alert(
    number: int,
    teams: tuple[str, ...] = ("adult-social-care",),
    *,
    subject_kind: AlertSubjectKind = AlertSubjectKind.PERSON,
) -> Alert:
    return Alert(
        alert_id=f"alert-{number}",
        rule_id="missed-contacts",
        subject_kind=subject_kind,
        subject=f"p-{number}",
        severity=Severity.MEDIUM,
        teams=list(teams),
        explanation="Two contacts were missed within 14 days.",
        evidence=AlertEvidence(
            event_ids=[f"e-{number}-1", f"e-{number}-2"],
            counts={"missed": 2},
            window_start=RAISED - timedelta(days=14),
            window_end=RAISED,
        ),
        raised_at=RAISED + timedelta(hours=number),
    )


def ids(alerts: list[FeedAlert]) -> list[str]:
    return [feed_alert.alert.alert_id for feed_alert in alerts]


def test_an_alert_is_recorded_once_however_often_it_arrives(store: Store) -> None:
    assert store.alerts.record([alert(1), alert(2), alert(1)]) == 2
    assert store.alerts.record([alert(2), alert(3)]) == 1
    assert store.alerts.record([alert(1), alert(2), alert(3)]) == 0
    assert store.alerts.record([]) == 0

    feed = store.alerts.for_team("adult-social-care")
    assert ids(feed) == ["alert-1", "alert-2", "alert-3"]
    assert [feed_alert.alert for feed_alert in feed] == [alert(1), alert(2), alert(3)]
    assert {feed_alert.status for feed_alert in feed} == {AlertStatus.OPEN}


def test_each_team_sees_only_the_alerts_routed_to_it(store: Store) -> None:
    store.alerts.record(
        [
            alert(1, ("adult-social-care", "gp-practice")),
            alert(2, ("gp-practice",)),
            alert(3, ("housing", "housing")),
            alert(4, (), subject_kind=AlertSubjectKind.PLACE),
        ]
    )

    assert ids(store.alerts.for_team("adult-social-care")) == ["alert-1"]
    assert ids(store.alerts.for_team("gp-practice")) == ["alert-1", "alert-2"]
    assert ids(store.alerts.for_team("housing")) == ["alert-3"]
    assert store.alerts.for_team("police") == []
    unrouted = store.alerts.get("alert-4")
    assert unrouted is not None
    assert unrouted.alert == alert(4, (), subject_kind=AlertSubjectKind.PLACE)


def test_feed_positions_rise_and_a_follower_gets_only_what_came_after(store: Store) -> None:
    store.alerts.record([alert(1), alert(2)])
    store.alerts.record([alert(3)])
    feed = store.alerts.for_team("adult-social-care")
    positions = [feed_alert.position for feed_alert in feed]
    assert positions == sorted(set(positions))

    assert ids(store.alerts.for_team("adult-social-care", since_position=positions[0])) == [
        "alert-2",
        "alert-3",
    ]
    assert store.alerts.for_team("adult-social-care", since_position=positions[-1]) == []
    assert ids(store.alerts.for_team("adult-social-care", limit=2)) == ["alert-1", "alert-2"]


def test_a_change_moves_the_alert_to_a_later_position(store: Store) -> None:
    store.alerts.record([alert(1), alert(2)])
    before = store.alerts.for_team("adult-social-care")

    acknowledged = store.alerts.acknowledge("alert-1", "adult-social-care")

    assert isinstance(acknowledged, FeedAlert)
    assert acknowledged.position > before[-1].position
    after = store.alerts.for_team("adult-social-care", since_position=before[-1].position)
    assert after == [acknowledged]
    assert ids(store.alerts.for_team("adult-social-care")) == ["alert-2", "alert-1"]


def test_filters_by_status_and_raised_time(store: Store) -> None:
    store.alerts.record([alert(1), alert(2), alert(3)])
    store.alerts.acknowledge("alert-2", "adult-social-care")
    store.alerts.resolve("alert-3", "adult-social-care", Outcome.HELPED)

    def listed(status: AlertStatus | None = None, since: datetime | None = None) -> list[str]:
        return ids(store.alerts.for_team("adult-social-care", status=status, since_time=since))

    assert listed(AlertStatus.OPEN) == ["alert-1"]
    assert listed(AlertStatus.ACKNOWLEDGED) == ["alert-2"]
    assert listed(AlertStatus.RESOLVED) == ["alert-3"]
    assert listed(since=alert(2).raised_at) == ["alert-2", "alert-3"]
    assert listed(AlertStatus.OPEN, since=alert(2).raised_at) == []


def test_acknowledge_then_resolve_records_who_when_and_how(store: Store) -> None:
    store.alerts.record([alert(1, ("adult-social-care", "gp-practice"))])
    start = datetime.now(UTC)

    acknowledged = store.alerts.acknowledge("alert-1", "gp-practice")
    resolved = store.alerts.resolve(
        "alert-1", "adult-social-care", Outcome.REFERRED_ON, "referred to the falls team"
    )

    assert isinstance(acknowledged, FeedAlert)
    assert acknowledged.status is AlertStatus.ACKNOWLEDGED
    assert acknowledged.acknowledged_by == "gp-practice"
    assert acknowledged.acknowledged_at is not None
    assert acknowledged.acknowledged_at >= start
    assert isinstance(resolved, FeedAlert)
    assert resolved.status is AlertStatus.RESOLVED
    assert (resolved.acknowledged_by, resolved.acknowledged_at) == (
        "gp-practice",
        acknowledged.acknowledged_at,
    )
    assert resolved.resolved_by == "adult-social-care"
    assert resolved.resolved_at is not None
    assert resolved.resolved_at >= acknowledged.acknowledged_at
    assert (resolved.outcome, resolved.note) == (Outcome.REFERRED_ON, "referred to the falls team")
    assert store.alerts.get("alert-1") == resolved
    # Both teams share the one alert, and see it resolved.
    assert store.alerts.for_team("gp-practice") == [resolved]


def test_an_alert_can_be_resolved_without_being_acknowledged(store: Store) -> None:
    store.alerts.record([alert(1)])

    resolved = store.alerts.resolve("alert-1", "adult-social-care", Outcome.FALSE_ALARM)

    assert isinstance(resolved, FeedAlert)
    assert (resolved.status, resolved.acknowledged_by) == (AlertStatus.RESOLVED, None)
    assert (resolved.outcome, resolved.note) == (Outcome.FALSE_ALARM, None)


def test_acting_again_as_before_changes_nothing(store: Store) -> None:
    store.alerts.record([alert(1, ("adult-social-care", "gp-practice"))])
    acknowledged = store.alerts.acknowledge("alert-1", "adult-social-care")

    assert store.alerts.acknowledge("alert-1", "adult-social-care") == acknowledged
    assert store.alerts.acknowledge("alert-1", "gp-practice") == acknowledged

    resolved = store.alerts.resolve("alert-1", "gp-practice", Outcome.HELPED, "visited")
    assert store.alerts.resolve("alert-1", "gp-practice", Outcome.HELPED, "visited") == resolved
    assert store.alerts.acknowledge("alert-1", "adult-social-care") == resolved
    assert store.alerts.get("alert-1") == resolved


def test_resolving_again_another_way_is_refused(store: Store) -> None:
    store.alerts.record([alert(1)])
    resolved = store.alerts.resolve("alert-1", "adult-social-care", Outcome.HELPED)

    for outcome, note in [(Outcome.NOT_NEEDED, None), (Outcome.HELPED, "a note after all")]:
        refused = store.alerts.resolve("alert-1", "adult-social-care", outcome, note)
        assert refused is Refused.RESOLVED_OTHERWISE
    assert store.alerts.get("alert-1") == resolved


def test_only_a_team_the_alert_is_routed_to_can_act_on_it(store: Store) -> None:
    store.alerts.record([alert(1), alert(2, ("gp-practice",))])
    untouched = store.alerts.get("alert-2")

    assert store.alerts.acknowledge("alert-2", "adult-social-care") is Refused.NOT_ROUTED
    assert (
        store.alerts.resolve("alert-2", "adult-social-care", Outcome.NOT_NEEDED)
        is Refused.NOT_ROUTED
    )
    assert store.alerts.acknowledge("alert-9", "adult-social-care") is Refused.UNKNOWN
    assert store.alerts.resolve("alert-9", "gp-practice", Outcome.HELPED) is Refused.UNKNOWN
    assert store.alerts.get("alert-2") == untouched
    assert store.alerts.get("alert-9") is None


def test_resolved_since_lists_each_resolution_once_in_order(store: Store) -> None:
    store.alerts.record([alert(1), alert(2), alert(3)])
    assert store.alerts.resolved_since() == []
    store.alerts.resolve("alert-2", "adult-social-care", Outcome.HELPED)
    store.alerts.acknowledge("alert-1", "adult-social-care")
    store.alerts.resolve("alert-3", "adult-social-care", Outcome.NOT_NEEDED)

    resolved = store.alerts.resolved_since()
    assert ids(resolved) == ["alert-2", "alert-3"]
    assert ids(store.alerts.resolved_since(resolved[0].position)) == ["alert-3"]
    assert store.alerts.resolved_since(resolved[-1].position) == []
    assert ids(store.alerts.resolved_since(limit=1)) == ["alert-2"]


def test_writers_at_once_get_distinct_positions(store: Store) -> None:
    """The agents record while teams act through the API: no position is given out twice."""
    store.alerts.record([alert(number) for number in range(8)])
    failures: list[BaseException] = []

    def act(number: int) -> None:
        try:
            if number % 2:
                store.alerts.acknowledge(f"alert-{number}", "adult-social-care")
            else:
                store.alerts.record([alert(100 + number)])
        except BaseException as failure:  # reported below, on the test's thread
            failures.append(failure)

    workers = [threading.Thread(target=act, args=(number,)) for number in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    positions = [feed_alert.position for feed_alert in store.alerts.for_team("adult-social-care")]
    assert len(positions) == 12
    assert positions == sorted(set(positions))


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_is_kept(store: Store, outcome: Outcome) -> None:
    store.alerts.record([alert(1)])
    store.alerts.resolve("alert-1", "adult-social-care", outcome)
    resolved = store.alerts.get("alert-1")
    assert resolved is not None
    assert resolved.outcome is outcome
