"""The Faust app: built from a configuration, never at import time.

A factory rather than a module-level app lets every test run its own app on its own topics,
and lets the command line decide the broker and the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust

from schemas.topics import Topics
from streams.transport import KafkaTransport


@dataclass(frozen=True)
class StreamsConfig:
    """What the stream worker needs to know about its surroundings."""

    brokers: tuple[str, ...]
    topics: Topics = field(default_factory=Topics)
    app_id: str = "backbone"
    data_dir: Path = Path(".backbone")
    table_store: str = "memory://"
    #: Group-join and long-poll timings; short values suit the embedded broker, which holds
    #: every JoinGroup for half the session timeout (``../shared/notes/broker.md``).
    session_timeout: float = 10.0
    heartbeat_interval: float = 3.0
    fetch_max_wait: float = 0.5
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    #: Whether the worker serves HTTP (the API registered with ``serve_asgi``); never
    #: Faust's legacy aiohttp server, which would bind a second port.
    web_enabled: bool = False
    broker_options: dict[str, Any] = field(default_factory=dict)


class BackboneApp(faust.App):
    """A Faust app that knows its topics and uses the configurable-fetch transport."""

    def __init__(self, config: StreamsConfig) -> None:
        self.config = config
        self.fetch_max_wait = config.fetch_max_wait
        config.data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            config.app_id,
            broker=[f"kafka://{host}" for host in config.brokers],
            store=config.table_store,
            datadir=str(config.data_dir / "faust"),
            autodiscover=False,
            topic_partitions=config.topics.partitions,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            broker_session_timeout=config.session_timeout,
            broker_heartbeat_interval=config.heartbeat_interval,
            web_bind=config.web_host,
            web_port=config.web_port,
            web_in_thread=False,
            web_enabled=config.web_enabled,
            **config.broker_options,
        )

    @property
    def topics_config(self) -> Topics:
        """The backbone's topic names for this app."""
        return self.config.topics

    def raw_topic(self, *names: str) -> Any:
        """A topic (or several) whose keys and values are bytes: agents encode and decode
        themselves, so that a message that fails to decode can be dead-lettered as it came."""
        return self.topic(*names, key_serializer="raw", value_serializer="raw")

    def batch_agent(
        self,
        source: Any,
        name: str,
        process: Callable[[Sequence[Any]], Awaitable[int]],
        *,
        size: int = 500,
        within: float = 0.05,
    ) -> Any:
        """An agent that hands ``process`` each batch of up to ``size`` Faust events taken
        from ``source`` (waiting at most ``within`` seconds to fill one), one batch at a time:
        concurrency 1, since Faust can commit past an in-flight event otherwise (faust.md)."""

        async def batches(stream: Any) -> AsyncIterator[int]:
            async for events in stream.take_events(size, within=within):
                yield await process(events)

        return self.agent(source, name=name, concurrency=1)(batches)

    def _new_transport(self) -> Any:
        return KafkaTransport(self.conf.broker_consumer, self)

    def changelog_topic_names(self) -> list[str]:
        """Every table's changelog topic, for pre-creation before the worker starts."""
        return [table.changelog_topic.get_topic_name() for table in self.tables.values()]


def create_app(config: StreamsConfig) -> BackboneApp:
    """A new, empty app; agents are registered on it by ``streams.agents``."""
    return BackboneApp(config)
