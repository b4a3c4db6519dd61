"""Backend numbers kept cheaply on the hot path, and turned into Prometheus series at scrape time.

A zero-cost backend answers ~100k records a second, in calls of up to 64. prometheus_client
takes a lock per update (a histogram observation is two), about five per call with these
series; ``BackendStats`` takes one when a call starts and one when it ends, and a scrape reads
the totals under the same lock. One ``BackendStats`` per (backend, model) label pair, shared by
every backend instance with those labels.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# model calls take from a millisecond (an embedding batch) to minutes (a long generation on a CPU)
BOUNDS = (0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
OUTCOMES = ("ok", "error", "unavailable")


class BackendStats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.answers = dict.fromkeys(OUTCOMES, 0)
        self.up = 1
        self.buckets = [0] * (len(BOUNDS) + 1)  # per bucket, not cumulative; the last is +Inf
        self.seconds = 0.0

    def started(self, requests: int) -> None:
        with self.lock:
            self.in_flight += requests

    def ended(self, requests: int, seconds: float | None, ok: int, errors: int, unavailable: int) -> None:
        """A call (or one request) is over: ``seconds`` None when it raised, which times nothing."""
        with self.lock:
            self.in_flight -= requests
            if seconds is not None:
                self.buckets[bisect_left(BOUNDS, seconds)] += 1
                self.seconds += seconds
            self.answers["ok"] += ok
            self.answers["error"] += errors
            self.answers["unavailable"] += unavailable
            if ok or errors or unavailable:
                self.up = 0 if unavailable and not (ok or errors) else 1

    def probed(self, up: bool) -> None:
        with self.lock:
            self.up = int(up)


_STATS: dict[tuple[str, str], BackendStats] = {}
_STATS_LOCK = threading.Lock()


def stats_for(backend: str, model: str) -> BackendStats:
    with _STATS_LOCK:
        return _STATS.setdefault((backend, model), BackendStats())


class BackendCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        families = _families()
        with _STATS_LOCK:
            known = sorted(_STATS.items())
        for (backend, model), stats in known:
            with stats.lock:
                _add(families, [backend, model], stats)
        yield from families


_Families = tuple[HistogramMetricFamily, GaugeMetricFamily, CounterMetricFamily, GaugeMetricFamily]


def _families() -> _Families:
    labels = ["backend", "model"]
    return (
        HistogramMetricFamily(
            "batchrock_backend_request_seconds",
            "Time a backend took to answer: one generate call (which may carry several records), or one request "
            "admitted into a continuously batching backend, from admission to its last step.", labels=labels),
        GaugeMetricFamily("batchrock_backend_requests_in_flight", "Requests (records) inside a backend now.",
                          labels=labels),
        CounterMetricFamily(
            "batchrock_backend_requests", "Requests a backend answered, every attempt counted (a retried record once per "
            "try); outcome: ok, error (the record's), unavailable (the backend's: busy, unreachable, cannot serve).",
            labels=[*labels, "outcome"]),
        GaugeMetricFamily("batchrock_backend_up", "1 when the backend's last answer or health probe was good, "
                          "0 when it said the backend is unavailable.", labels=labels),
    )


def _add(families: _Families, labels: list[str], stats: BackendStats) -> None:
    latency, in_flight, answers, up = families
    cumulative = [sum(stats.buckets[:i + 1]) for i in range(len(stats.buckets))]
    latency.add_metric(labels, list(zip([str(bound) for bound in BOUNDS] + ["+Inf"], cumulative, strict=True)),
                       stats.seconds)
    in_flight.add_metric(labels, stats.in_flight)
    for outcome, count in stats.answers.items():
        answers.add_metric([*labels, outcome], count)
    up.add_metric(labels, stats.up)


REGISTRY.register(BackendCollector())
