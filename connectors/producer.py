"""The one producer configuration of every connector: kafka-python, durable by default.

``acks=all`` so that an acknowledged event is on every in-sync replica; retries with one
request in flight per connection so that retries never reorder a producer's events (the
outbox relay publishes in order); gzip, which needs no native library; a short, bounded
linger so that batching never delays a lone event by more than a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from connectors.base import Delivery, EventSink
from connectors.errors import PublishError


@dataclass(frozen=True)
class ProducerSettings:
    """How connectors reach Kafka; ``client_options`` carries security settings."""

    bootstrap_servers: tuple[str, ...]
    linger_ms: int = 5
    batch_size: int = 64 * 1024
    compression_type: str = "gzip"
    retries: int = 10
    #: kafka-python requires delivery > linger + request timeout.
    request_timeout_ms: int = 15_000
    #: How long ``send`` may block for metadata (an unknown topic, a broker away).
    max_block_ms: int = 10_000
    delivery_timeout_ms: int = 30_000
    client_options: Mapping[str, Any] = field(default_factory=dict)

    def kafka_python_config(self) -> dict[str, Any]:
        """Keyword arguments for ``KafkaProducer``."""
        return {
            "bootstrap_servers": list(self.bootstrap_servers),
            "acks": "all",
            "retries": self.retries,
            "max_in_flight_requests_per_connection": 1,
            # The embedded broker cannot grant producer ids; ordering comes from one
            # request in flight, duplicates are dropped downstream by event id.
            "enable_idempotence": False,
            "compression_type": self.compression_type,
            "linger_ms": self.linger_ms,
            "batch_size": self.batch_size,
            "request_timeout_ms": self.request_timeout_ms,
            "max_block_ms": self.max_block_ms,
            "delivery_timeout_ms": self.delivery_timeout_ms,
            **self.client_options,
        }


class _KafkaDelivery(Delivery):
    def __init__(self, future: Any) -> None:
        self._future = future

    def result(self, timeout: float) -> None:
        try:
            self._future.get(timeout=timeout)
        except KafkaError as exc:
            raise PublishError(f"the broker did not acknowledge: {exc}") from exc

    def on_done(self, callback: Callable[[BaseException | None], None]) -> None:
        self._future.add_callback(lambda _metadata: callback(None))
        self._future.add_errback(
            lambda exc: callback(PublishError(f"the broker did not acknowledge: {exc}"))
        )


class KafkaSink(EventSink):
    """An :class:`EventSink` over one kafka-python producer (thread-safe)."""

    def __init__(self, settings: ProducerSettings) -> None:
        try:
            self._producer = KafkaProducer(**settings.kafka_python_config())
        except KafkaError as exc:
            raise PublishError(
                f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}"
            ) from exc

    def add(
        self, topic: str, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> Delivery:
        try:
            future = self._producer.send(topic, key=key, value=value, headers=list(headers))
        except KafkaError as exc:
            raise PublishError(f"cannot send to {topic}: {exc}") from exc
        return _KafkaDelivery(future)

    def flush(self, timeout: float | None = None) -> None:
        try:
            self._producer.flush(timeout)
        except KafkaError as exc:
            raise PublishError(f"flush failed: {exc}") from exc

    def close(self) -> None:
        self._producer.close()
