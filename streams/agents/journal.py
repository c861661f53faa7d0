"""The journal agent: every accepted agency event, recorded once, then passed on.

The embedded broker keeps nothing across a restart and Kafka's retention is finite, so the
journal is where accepted events outlive the broker: views are rebuilt from it. Writes are
idempotent on ``event_id``, so at-least-once delivery (a replay after a crash) changes
nothing. A store outage stalls the stream and retries rather than dropping events. Once
recorded, each event goes on, as it came, to the identity queue: what is resolved is
always already durable.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from schemas.models import AgencyEvent
from streams.app import BackboneApp
from streams.intake import Decoder, Intake
from streams.store import JournalEntry, Store
from streams.stored import until_stored

log = logging.getLogger(__name__)


def journal_entry(intake: Intake) -> JournalEntry:
    """The journal row for one decoded event."""
    event: AgencyEvent = intake.event
    return JournalEntry(
        event_id=event.event_id,
        kind=intake.kind.value,
        record=type(event).__name__,
        agency=event.agency,
        local_id=event.person.local_id,
        occurred_at=event.occurred_at,
        payload=event.model_dump_json(),
        source_topic=intake.topic,
        source_partition=intake.partition,
        source_offset=intake.offset,
    )


def register(app: BackboneApp, decoder: Decoder, store: Store, onward: Any | None = None) -> Any:
    """Add the journal agent to ``app``; it reads every source topic.

    ``onward`` is the channel recorded events are passed to (the identity queue); None
    records them only.
    """
    sources = app.raw_topic(*app.topics_config.sources.values())

    async def journal(events: Sequence[Any]) -> int:
        decoded = await decoder.decode(events)
        entries = [journal_entry(intake) for intake in decoded]
        recorded = await until_stored("journal write", store.journal.record_many, entries)
        if onward is not None:
            for intake in decoded:
                await onward.send(key=intake.key, value=intake.value)
        return recorded

    return app.batch_agent(sources, "journal", journal)
