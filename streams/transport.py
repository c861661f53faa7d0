"""A Faust Kafka transport whose consumer long-poll wait is configurable.

faust-streaming 0.15.3 builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` written
into the code. On a quiet topic that wait is paid by every lone event; measured on the
embedded broker at 200 events/s: p99 750 ms from produce to agent, 89 ms with 100 ms
(``../shared/notes/broker.md``). Only the consumer differs from Faust's own transport.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport


class _FetchWaitApp(Protocol):
    fetch_max_wait: float


class _ConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this attribute when it builds its fetcher at start(); faust offers
        # no setting for it, and this is the only value we change.
        consumer._fetch_max_wait_ms = int(cast(_FetchWaitApp, self.app).fetch_max_wait * 1000)
        return consumer


class _Consumer(Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class KafkaTransport(Transport):
    """Faust's aiokafka transport with the consumer above."""

    Consumer = _Consumer
