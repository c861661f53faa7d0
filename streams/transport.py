"""A Faust Kafka transport for the embedded broker: configurable fetch wait, true end offsets.

faust-streaming 0.15.3 builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` written
into the code. On a quiet topic that wait is paid by every lone event; measured on the
embedded broker at 200 events/s: p99 750 ms from produce to agent, 89 ms with 100 ms
(``../shared/notes/broker.md``).

The embedded broker (Tansu) also answers ListOffsets(LATEST) with the last batch's base
offset + 1 instead of the end offset, and Faust's table recovery reads changelog ends that
way: it stops early and serves a stale table without a word. The consumer thread below
confirms each end against the high watermark of a Fetch, which that broker gets right.
Only the consumer differs from Faust's own transport.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from faust.transport.drivers.aiokafka import (
    AIOKafkaConsumerThread,
    Consumer,
    Transport,
    credentials_to_aiokafka_auth,
    server_list,
)
from faust.types import TP

from schemas.errors import BrokerError

log = logging.getLogger(__name__)

#: The probe's long-poll wait: on a correct broker the fetch at the end returns no records,
#: only the high watermark, after this wait.
_PROBE_FETCH_WAIT_MS = 100


class _FetchWaitApp(Protocol):
    fetch_max_wait: float


class HighwaterUnconfirmedError(BrokerError):
    """A changelog end offset could not be confirmed by a fetch, so recovery must not go on."""


class _ConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this attribute when it builds its fetcher at start(); faust offers
        # no setting for it, and this is the only value we change.
        consumer._fetch_max_wait_ms = int(cast(_FetchWaitApp, self.app).fetch_max_wait * 1000)
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """End offsets for table recovery, each at least the Fetch high watermark.

        On a correct broker both agree; the cost is one short-lived client and a long poll
        or two (up to ~0.2 s) per recovery. In a transaction Faust reads the last stable
        offset, which is left to it.
        """
        reported: Mapping[TP, int] = await super()._highwaters(partitions)
        if self.consumer.in_transaction or not reported:
            return reported
        fetched = await self._fetched_highwaters(reported)
        confirmed = {tp: max(end, fetched[tp]) for tp, end in reported.items()}
        corrected = {
            tp: (reported[tp], end) for tp, end in confirmed.items() if end != reported[tp]
        }
        if corrected:
            log.info("changelog end offsets corrected by fetch (reported, fetched): %s", corrected)
        return confirmed

    async def _fetched_highwaters(self, reported: Mapping[TP, int]) -> dict[TP, int]:
        """The high watermark of a Fetch from each reported end, by a client of our own.

        Raises :class:`HighwaterUnconfirmedError` rather than falling back to the reported ends:
        those may be wrong, and a stale table is silent data loss, while this error crashes
        the app, where it is seen. The deadline is half of ``broker_request_timeout`` because Faust
        gives the whole highwater step that long and, past it, quietly abandons recovery
        (the worker then never gets ready and says nothing).
        """
        conf = self.app.conf
        transport = cast(Transport, self.transport)
        probe = AIOKafkaConsumer(
            client_id=conf.broker_client_id,
            bootstrap_servers=server_list(transport.url, transport.default_port),
            enable_auto_commit=False,
            fetch_max_wait_ms=_PROBE_FETCH_WAIT_MS,
            request_timeout_ms=int(conf.broker_request_timeout * 1000),
            **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
        )
        ours = {TopicPartition(tp.topic, tp.partition): tp for tp in reported}
        try:
            async with asyncio.timeout(conf.broker_request_timeout / 2):
                await probe.start()
                probe.assign(list(ours))
                for tp, faust_tp in ours.items():
                    probe.seek(tp, reported[faust_tp])
                # Records fetched from a too-early end are discarded: only the watermark counts.
                while unknown := [tp for tp in ours if probe.highwater(tp) is None]:
                    await probe.getmany(*unknown, timeout_ms=_PROBE_FETCH_WAIT_MS)
                return {faust_tp: int(probe.highwater(tp)) for tp, faust_tp in ours.items()}
        except (TimeoutError, KafkaError) as exc:
            raise HighwaterUnconfirmedError(
                f"no fetch confirmed the changelog end offsets {dict(reported)}: {exc!r}"
            ) from exc
        finally:
            await probe.stop()


class _Consumer(Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class KafkaTransport(Transport):
    """Faust's aiokafka transport with the consumer above."""

    Consumer = _Consumer
