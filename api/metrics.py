"""Prometheus metrics of the HTTP service.

With several uvicorn workers, :func:`api.server.run` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
folder before the workers start, and ``/metrics`` then aggregates every worker's values (the
prometheus-client multiprocess mode). A single process uses the default registry.

Abstention rate: ``clinicqa_abstention_ratio`` (since start, per process), or in PromQL
``sum(rate(clinicqa_answers_total{abstained="true"}[5m])) / sum(rate(clinicqa_answers_total[5m]))``.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "clinicqa_http_requests_total", "HTTP requests by route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "clinicqa_http_request_duration_seconds", "Time to serve a request (whole response)",
    ["method", "route"], buckets=LATENCY_BUCKETS,
)
ANSWERS = Counter(
    "clinicqa_answers_total", "Answers given by /v1/ask, by reason", ["reason", "abstained", "audience"]
)
ABSTENTION_RATIO = Gauge(
    "clinicqa_abstention_ratio", "Share of /v1/ask answers that abstained since this process started",
    multiprocess_mode="liveall",
)
ANSWER_LATENCY = Histogram(
    "clinicqa_answer_seconds", "Time to produce an answer (engine or cache)", ["cached"],
    buckets=LATENCY_BUCKETS,
)
ANSWER_CACHE = Counter("clinicqa_answer_cache_total", "Answer cache lookups", ["result"])
RATE_LIMITED = Counter("clinicqa_rate_limited_total", "Requests refused by the rate limit", ["route"])
LOG_WRITTEN = Counter("clinicqa_question_log_written_total", "Question-log entries written to the database")
LOG_DROPPED = Counter(
    "clinicqa_question_log_dropped_total",
    "Question-log entries dropped (queue_full: the queue was full; db_error: failed twice)", ["reason"],
)
REINDEX = Counter("clinicqa_reindex_total", "Admin reindex runs", ["result"])
INDEX_DOCUMENTS = Gauge("clinicqa_index_documents", "Pages in the loaded index", multiprocess_mode="liveall")
INDEX_CHUNKS = Gauge(
    "clinicqa_index_chunks", "Passages (chunks) in the loaded index", multiprocess_mode="liveall"
)
INDEX_BYTES = Gauge("clinicqa_index_bytes", "Size of the loaded index on disk", multiprocess_mode="liveall")
INDEX_LOADED = Gauge(
    "clinicqa_index_loaded_timestamp_seconds", "When the serving index was loaded",
    multiprocess_mode="liveall",
)
READY = Gauge("clinicqa_ready", "1 when an index is loaded and answering", multiprocess_mode="liveall")


class AbstentionTracker:
    """Keeps the per-process abstention ratio gauge up to date."""

    def __init__(self) -> None:
        self.answers = 0
        self.abstained = 0

    def add(self, abstained: bool) -> None:
        self.answers += 1
        self.abstained += int(abstained)
        ABSTENTION_RATIO.set(self.abstained / self.answers)


def render() -> tuple[bytes, str]:
    """The exposition text: every worker's metrics in multiprocess mode, this process's otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead() -> None:
    """Called when a worker stops, so its live gauges leave the aggregate."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
