"""Ingest throughput: every connector path against a bare kafka-python producer, one run.

    python -m bench.ingest            # full: 20,000 events per path
    python -m bench.ingest --quick    # CI smoke run: 1,000 events per path

Each path takes the same contact events, on a fresh embedded broker (Tansu) and a fresh
SQLite store, and reports events per second and the ratio to the baseline measured in the
same run: a kafka-python producer with the connectors' own configuration sending the
already-encoded bytes, i.e. the ceiling of publishing on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from kafka import KafkaProducer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Text
from sqlalchemy import Table as SqlTable

from backbone.broker import EmbeddedBroker, free_loopback_port
from backbone.runtime import ingest_for
from backbone.settings import Settings
from connectors.files import publish_file
from connectors.http import ingest_router
from connectors.ingest import Ingest, Submission
from connectors.outbox import OutboxRelay, reflect_outbox
from connectors.producer import ProducerSettings
from schemas.models import Contact
from schemas.topics import EventKind
from streams.store import Store, create_engine
from tests.samples import sample_events

AGENCY = "bench-agency"
TOKEN = "bench-token"
BATCH = 500


@dataclass(frozen=True)
class Result:
    path: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def contacts(count: int) -> list[Contact]:
    """``count`` distinct contacts from one agency, about a hundred people."""
    template = next(e for e in sample_events() if isinstance(e, Contact))
    return [
        template.model_copy(
            update={
                "event_id": uuid.uuid4(),
                "agency": AGENCY,
                "person": template.person.model_copy(update={"local_id": f"p{n % 97}"}),
            }
        )
        for n in range(count)
    ]


def timed(path: str, events: int, run: Callable[[], object]) -> Result:
    started = time.perf_counter()
    run()
    return Result(path, events, time.perf_counter() - started)


@contextlib.contextmanager
def fresh_backbone(broker: EmbeddedBroker, prefix: str) -> Iterator[tuple[Settings, Ingest]]:
    """A new topic prefix and store, so each path starts from nothing."""
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    settings = Settings(
        data_dir=folder,
        kafka={"topic_prefix": prefix, "partitions": 4},
        agencies=[{"id": AGENCY, "token": TOKEN}],
    )
    broker.create_topics(settings.kafka.topics.specs())
    with Store.open(settings.database_url) as store:
        ingest = ingest_for(settings, store, [broker.bootstrap])
        try:
            yield settings, ingest
        finally:
            ingest.close()


def bare_producer(broker: EmbeddedBroker, events: list[Contact]) -> Result:
    with fresh_backbone(broker, "bare") as (settings, ingest):
        codec = ingest.codec
        topic = settings.kafka.topics.source(EventKind.CONTACT)
        encoded = [(f"{e.agency}:{e.person.local_id}".encode(), codec.encode(e)) for e in events]
    producer = KafkaProducer(**ProducerSettings((broker.bootstrap,)).kafka_python_config())

    def send() -> None:
        for key, value in encoded:
            producer.send(topic, key=key, value=value)
        producer.flush()

    try:
        return timed("bare kafka-python producer (baseline)", len(events), send)
    finally:
        producer.close()


def sdk(broker: EmbeddedBroker, events: list[Contact]) -> Result:
    with fresh_backbone(broker, "sdk") as (_, ingest):
        bodies = [e.model_dump_json().encode() for e in events]

        def run() -> None:
            for start in range(0, len(bodies), BATCH):
                chunk = [Submission(b, b) for b in bodies[start : start + BATCH]]
                ingest.accept(EventKind.CONTACT, chunk, agency=AGENCY, connector="sdk")

        return timed(f"ingest path (SDK, batches of {BATCH})", len(events), run)


@contextlib.contextmanager
def http_server(ingest: Ingest) -> Iterator[str]:
    api = FastAPI()
    api.include_router(ingest_router(ingest, lambda token: AGENCY if token == TOKEN else None))
    port = free_loopback_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="error"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        loop.close()


async def _post_all(url: str, bodies: list[bytes], concurrency: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    queue = list(reversed(bodies))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:

        async def worker() -> None:
            while queue:
                response = await client.post("/v1/events/contact", content=queue.pop())
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def http_single(broker: EmbeddedBroker, events: list[Contact], concurrency: int = 32) -> Result:
    with fresh_backbone(broker, "http-single") as (_, ingest), http_server(ingest) as url:
        bodies = [e.model_dump_json().encode() for e in events]
        return timed(
            f"HTTP single ({concurrency} concurrent clients)",
            len(events),
            lambda: asyncio.run(_post_all(url, bodies, concurrency)),
        )


def http_batch(broker: EmbeddedBroker, events: list[Contact]) -> Result:
    with fresh_backbone(broker, "http-batch") as (_, ingest), http_server(ingest) as url:
        batches = [
            "[" + ",".join(e.model_dump_json() for e in events[i : i + BATCH]) + "]"
            for i in range(0, len(events), BATCH)
        ]

        def run() -> None:
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                for batch in batches:
                    client.post("/v1/events/contact:batch", content=batch).raise_for_status()

        return timed(f"HTTP batch ({BATCH} per request)", len(events), run)


def file_drop(broker: EmbeddedBroker, events: list[Contact]) -> Result:
    with fresh_backbone(broker, "file") as (settings, ingest):
        path = settings.data_dir / "contacts.jsonl"
        path.write_text("".join(e.model_dump_json() + "\n" for e in events))
        return timed(
            "file drop (JSON Lines)",
            len(events),
            lambda: publish_file(path, EventKind.CONTACT, AGENCY, ingest),
        )


def outbox(broker: EmbeddedBroker, events: list[Contact]) -> Result:
    with fresh_backbone(broker, "outbox") as (settings, ingest):
        url = f"sqlite:///{settings.data_dir / 'agency.db'}"
        engine = create_engine(url)
        table = SqlTable(
            "outbox",
            MetaData(),
            Column("id", Integer, primary_key=True),
            Column("kind", String),
            Column("payload", Text),
            Column("published_at", DateTime(timezone=True)),
            Column("error", Text),
        )
        table.metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                table.insert(),
                [{"kind": "contact", "payload": e.model_dump_json()} for e in events],
            )
        relay = OutboxRelay(
            engine, reflect_outbox(engine, "outbox"), ingest, agency=AGENCY, batch=BATCH
        )
        try:
            return timed(
                f"outbox relay (SQLite, {BATCH} rows a poll)",
                len(events),
                lambda: relay.run(threading.Event(), once=True, interval=0),
            )
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small CI smoke run")
    count = 1_000 if parser.parse_args().quick else 20_000
    events = contacts(count)
    console = Console()
    with EmbeddedBroker() as broker:
        results = [bare_producer(broker, events)]
        for path in (sdk, http_batch, file_drop, outbox, http_single):
            results.append(path(broker, events))
    baseline = results[0].rate
    table = Table(title=f"Ingest throughput, {count:,} contact events per path")
    for column in ("path", "events/s", "seconds", "x bare producer"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for result in results:
        table.add_row(
            result.path,
            f"{result.rate:,.0f}",
            f"{result.seconds:.2f}",
            f"{result.rate / baseline:.2f}",
        )
    console.print(table)
    console.print(json.dumps({r.path: round(r.rate) for r in results}))


if __name__ == "__main__":
    main()
