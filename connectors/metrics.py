"""Ingest counters for Prometheus: accepted, rejected and dead-lettered, per agency and kind."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class IngestMetrics:
    """The counters of one backbone process (its own registry, so tests stay apart)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ("agency", "kind", "connector")
        self.accepted = Counter(
            "backbone_ingest_accepted",
            "Events accepted (acknowledged by the broker), repeats of accepted events included.",
            (*labels, "repeat"),
            registry=self.registry,
        )
        self.rejected = Counter(
            "backbone_ingest_rejected",
            "Events refused, by reason: invalid, conflict, forbidden, unavailable.",
            (*labels, "reason"),
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "backbone_ingest_dead_lettered",
            "Rejected events published to the dead-letter topic with their original bytes.",
            labels,
            registry=self.registry,
        )
