"""Wiring: builds the worker, its agents, the store, the codec and the API from settings.

This is the one place where ``connectors`` and ``streams`` meet; both depend only on the
contracts in ``schemas``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from faust.contrib.asgi import serve_asgi

from backbone.broker import EmbeddedBroker
from backbone.http import HealthSources, build_api
from backbone.keys import KEY_FILE, installation_secret
from backbone.settings import Agency, Engineer, Settings, Team
from connectors.http import ingest_router
from connectors.ingest import Ingest
from connectors.ledger import AcceptedEvent, Ledger
from connectors.producer import KafkaSink, ProducerSettings
from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.models import IdentityDecision
from schemas.registry import ConfluentSchemaRegistry, EmbeddedSchemaRegistry, SchemaRegistry
from schemas.topics import TopicSpec
from streams.agents import identity, journal, person_view, place_view, rules
from streams.api.alerts import alerts_router
from streams.api.identity import identity_router
from streams.api.reads import read_router
from streams.app import BackboneApp, StreamsConfig, create_app
from streams.intake import DeadLetters, Decoder
from streams.rules import RulePack, default_rule_pack, load_rule_pack
from streams.store import AcceptedEntry, Store


def schema_registry(settings: Settings) -> SchemaRegistry:
    """The configured registry: a Confluent-compatible one, or the embedded default."""
    config = settings.schema_registry
    if config.url:
        return ConfluentSchemaRegistry(config.url, config.username, config.password)
    return EmbeddedSchemaRegistry(settings.data_dir / "schemas.sqlite")


def codec_for(settings: Settings) -> AvroCodec:
    """The Avro codec over the configured registry."""
    return AvroCodec(schema_registry(settings), Catalog.load())


def token_to_id(
    find: Callable[[str], Agency | Team | Engineer | None],
) -> Callable[[str], str | None]:
    """Bearer token to its holder's id (``agency_for_token``, ``team_for_token`` or
    ``engineer_for_token``)."""

    def authenticate(token: str) -> str | None:
        holder = find(token)
        return holder.id if holder else None

    return authenticate


class StoreLedger(Ledger):
    """The connectors' ledger, kept in the store's accepted-events table."""

    def __init__(self, store: Store) -> None:
        self._accepted = store.accepted

    def fingerprints(self, event_ids: Collection[UUID]) -> dict[UUID, str]:
        return self._accepted.fingerprints(event_ids)

    def record(self, accepted: Sequence[AcceptedEvent]) -> None:
        # A shallow copy of the fields: asdict would deep-copy every payload.
        self._accepted.record_many(
            [
                AcceptedEntry(**{f.name: getattr(event, f.name) for f in fields(event)})
                for event in accepted
            ]
        )


def publish_to(channel: Any, codec: AvroCodec) -> Callable[[IdentityDecision], Awaitable[None]]:
    """Put identity decisions on ``channel`` (the identity queue), waiting for the broker."""

    async def publish(decision: IdentityDecision) -> None:
        delivery = await channel.send(
            key=decision.person_key.encode(), value=codec.encode(decision)
        )
        await delivery

    return publish


def rule_pack(settings: Settings) -> RulePack:
    """The configured alert rule pack (``rules_file``), else the shipped default one.

    Raises RulePackError naming each problem of a configured pack.
    """
    if settings.rules_file is None:
        return default_rule_pack()
    return load_rule_pack(settings.rules_file)


def ingest_for(settings: Settings, store: Store, brokers: Sequence[str]) -> Ingest:
    """The shared ingest path over a producer to ``brokers``, remembering in ``store``."""
    sink = KafkaSink(ProducerSettings(tuple(brokers)))
    return Ingest(codec_for(settings), settings.kafka.topics, sink, ledger=StoreLedger(store))


@dataclass
class Backbone:
    """Everything ``backbone up`` runs, built and wired but not started."""

    settings: Settings
    broker: EmbeddedBroker | None
    app: BackboneApp
    store: Store
    ingest: Ingest
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

    def close(self) -> None:
        """Release the producer and the store (after the worker has stopped)."""
        self.ingest.close()
        self.store.close()


def assemble(settings: Settings, broker: EmbeddedBroker | None = None) -> Backbone:
    """Build the backbone described by ``settings``; an embedded ``broker`` must be started."""
    kafka = settings.kafka
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
    dead_letters = DeadLetters(app.raw_topic(kafka.topics.dead_letters), connector="journal")
    identity_queue = app.raw_topic(kafka.topics.identity_queue)
    journal.register(app, Decoder(codec, kafka.topics, dead_letters), store, identity_queue)
    identity.register(
        app,
        codec=codec,
        matcher=identity.restored_matcher(
            installation_secret(settings.data_dir / KEY_FILE), store.identity
        ),
        stores=identity.IdentityStores(
            store.identity, store.erasures, store.decisions, store.journal
        ),
        person_events=app.raw_topic(kafka.topics.person_events),
        dead_letters=DeadLetters(app.raw_topic(kafka.topics.dead_letters), connector="identity"),
    )
    person_view.register(
        app,
        codec=codec,
        views=store.views,
        place_events=app.raw_topic(kafka.topics.place_events),
        dead_letters=DeadLetters(app.raw_topic(kafka.topics.dead_letters), connector="person-view"),
    )
    place_view.register(
        app,
        codec=codec,
        views=store.views,
        dead_letters=DeadLetters(app.raw_topic(kafka.topics.dead_letters), connector="place-view"),
    )
    rules.register(
        app,
        codec=codec,
        pack=rule_pack(settings),
        alerts=app.raw_topic(kafka.topics.alerts),
        store=store.alerts,
        dead_letters=DeadLetters(app.raw_topic(kafka.topics.dead_letters), connector="rules"),
    )
    ingest = ingest_for(settings, store, brokers)
    embedded_alive = (lambda: broker.alive) if broker else None
    api = build_api(
        HealthSources(app, store, brokers, embedded_alive),
        ingest.metrics.registry,
        [
            ingest_router(ingest, token_to_id(settings.agency_for_token)),
            read_router(store, token_to_id(settings.team_for_token)),
            alerts_router(store, token_to_id(settings.team_for_token)),
            identity_router(
                store,
                token_to_id(settings.engineer_for_token),
                publish_to(identity_queue, codec),
            ),
        ],
    )
    serve_asgi(app, api, host=settings.http_host, port=settings.http_port)
    return Backbone(settings, broker, app, store, ingest, api)
