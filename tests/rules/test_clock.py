"""The event-time clock: latest event time seen, minus the allowed lateness, never back."""

from __future__ import annotations

from datetime import timedelta

from streams.rules import EventClock
from tests.rules.support import days


def test_a_clock_that_has_seen_nothing_has_no_time() -> None:
    assert EventClock(allowed_lateness=timedelta(minutes=15)).watermark is None


def test_the_watermark_trails_the_latest_time_by_the_lateness() -> None:
    clock = EventClock(allowed_lateness=timedelta(hours=1)).observe(days(2)).observe(days(5))

    assert clock.watermark == days(5) - timedelta(hours=1)


def test_an_earlier_time_does_not_move_the_clock_back() -> None:
    clock = EventClock(allowed_lateness=timedelta(0)).observe(days(5))

    assert clock.observe(days(1)) is clock
    assert clock.observe(days(5)) is clock
    assert clock.watermark == days(5)


def test_a_clock_survives_a_round_trip_through_json() -> None:
    clock = EventClock(allowed_lateness=timedelta(minutes=15)).observe(days(3))

    assert EventClock.model_validate_json(clock.model_dump_json()) == clock
