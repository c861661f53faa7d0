"""Wiring: builds the worker, its agents, the store, the codec and the API from settings.

This is the one place where ``connectors`` and ``streams`` meet; both depend only on the
contracts in ``schemas``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from faust.contrib.asgi import serve_asgi

from backbone.broker import EmbeddedBroker
from backbone.http import HealthSources, build_api
from backbone.settings import Settings
from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.registry import ConfluentSchemaRegistry, EmbeddedSchemaRegistry, SchemaRegistry
from schemas.topics import TopicSpec
from streams.agents import journal
from streams.app import BackboneApp, StreamsConfig, create_app
from streams.intake import DeadLetters, Decoder, dead_letter_topic
from streams.store import Store


def schema_registry(settings: Settings) -> SchemaRegistry:
    """The configured registry: a Confluent-compatible one, or the embedded default."""
    config = settings.schema_registry
    if config.url:
        return ConfluentSchemaRegistry(config.url, config.username, config.password)
    return EmbeddedSchemaRegistry(settings.data_dir / "schemas.sqlite")


def codec_for(settings: Settings) -> AvroCodec:
    """The Avro codec over the configured registry."""
    return AvroCodec(schema_registry(settings), Catalog.load())


@dataclass
class Backbone:
    """Everything ``backbone up`` runs, built and wired but not started."""

    settings: Settings
    broker: EmbeddedBroker | None
    app: BackboneApp
    store: Store
    codec: AvroCodec
    api: FastAPI

    @property
    def brokers(self) -> tuple[str, ...]:
        """The bootstrap servers in use."""
        return self.app.config.brokers

    def topic_specs(self) -> list[TopicSpec]:
        """Every topic the worker uses, with partitions, for pre-creation."""
        topics = self.settings.kafka.topics
        changelogs = [
            TopicSpec(name, topics.partitions, compacted=True)
            for name in self.app.changelog_topic_names()
        ]
        return [*topics.specs(), *changelogs]


def assemble(settings: Settings, log_dir: Path | None = None) -> Backbone:
    """Build the backbone described by ``settings``."""
    kafka = settings.kafka
    broker = None
    if kafka.embedded:
        broker = EmbeddedBroker(log_file=(log_dir / "broker.log") if log_dir else None)
    brokers = (broker.bootstrap,) if broker else tuple(kafka.bootstrap_servers)
    session, heartbeat, fetch = kafka.timings()
    app = create_app(
        StreamsConfig(
            brokers=brokers,
            topics=kafka.topics,
            app_id=kafka.topic_prefix,
            data_dir=settings.data_dir,
            session_timeout=session,
            heartbeat_interval=heartbeat,
            fetch_max_wait=fetch,
            web_host=settings.http_host,
            web_port=settings.http_port,
            web_enabled=True,
        )
    )
    store = Store.open(settings.database_url)
    codec = codec_for(settings)
    dead_letters = DeadLetters(dead_letter_topic(app, kafka.topics), connector="journal")
    decoder = Decoder(codec, kafka.topics, dead_letters)
    journal.register(app, decoder, store)
    api = build_api(
        HealthSources(
            app, store, brokers, embedded_alive=(lambda: broker.alive) if broker else None
        )
    )
    serve_asgi(app, api, host=settings.http_host, port=settings.http_port)
    return Backbone(settings, broker, app, store, codec, api)
