"""What ``/metrics`` reads from the job store at scrape time: jobs by status, the wait in Scheduled,
records and tokens by model, whether the store takes writes, and events waiting to go out.

Records and tokens by model are the jobs' own counts added up (one grouped query per scrape):
exactly what Get and the manifests report, error records refused before any model call
included, and a record counted once however often it was retried or run again after a crash.
Counting them in the record loop could get neither right without the engine's help.

They describe the whole store, so every process on one store (serve, workers) shows the same
values: aggregate them with ``max``, not ``sum`` (docs/observability.md). Jobs are never deleted,
so the totals only grow; the one exception is a job whose ending corrects its live counts from
its checkpoint, which Prometheus reads as a small counter reset.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from batchrock.jobs.clock import Clock
from batchrock.jobs.model import JobStatus, RecordCounts
from batchrock.jobs.store import JobStore, StatusTotals

log = logging.getLogger("batchrock.metrics")

# metric name (without _total) -> (RecordCounts field, help)
_COUNTERS = {
    "batchrock_records_processed": ("processed", "Records processed (succeeded or failed), by model."),
    "batchrock_records_succeeded": ("success", "Records that succeeded, by model."),
    "batchrock_records_failed": ("error", "Error records (refused input or a failed model call), by model."),
    "batchrock_input_tokens": ("input_tokens", "Input tokens of the records processed, by model."),
    "batchrock_output_tokens": ("output_tokens", "Output tokens of the records processed, by model."),
}


class JobStoreCollector(Collector):
    def __init__(self, store: JobStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        writable = GaugeMetricFamily("batchrock_store_writable", "1 while the job store takes writes, else 0.")
        writable.add_metric([], 0 if self.store.write_problem else 1)
        yield writable
        try:
            totals = self.store.job_totals()
            pending = self.store.outbox.count_pending_events()
        except Exception as error:  # a store that cannot be read: the process's own metrics still go out
            log.warning("metrics: the job store could not be read: %s", error)
            return
        yield self._jobs(totals)
        yield self._oldest_scheduled(totals)
        yield from self._counts(totals)
        events = GaugeMetricFamily("batchrock_events_pending", "State-change events not yet delivered to every URL.")
        events.add_metric([], pending)
        yield events

    @staticmethod
    def _jobs(totals: list[StatusTotals]) -> Metric:
        family = GaugeMetricFamily("batchrock_jobs", "Jobs by status and model.", labels=["status", "model_id"])
        for row in totals:
            family.add_metric([row.status.value, row.model_id], row.jobs)
        return family

    def _oldest_scheduled(self, totals: list[StatusTotals]) -> Metric:
        family = GaugeMetricFamily("batchrock_jobs_scheduled_oldest_age_seconds",
                                   "How long the job waiting longest in Scheduled has waited; 0 when none waits.")
        waiting = [row.oldest_change for row in totals if row.status is JobStatus.SCHEDULED]
        family.add_metric([], max(0.0, (self.clock.now() - min(waiting)).total_seconds()) if waiting else 0.0)
        return family

    @staticmethod
    def _counts(totals: list[StatusTotals]) -> Iterator[Metric]:
        by_model: dict[str, RecordCounts] = defaultdict(RecordCounts)
        for row in totals:
            by_model[row.model_id] += row.counts
        for name, (field, description) in _COUNTERS.items():
            family = CounterMetricFamily(name, description, labels=["model_id"])
            for model_id, counts in sorted(by_model.items()):
                family.add_metric([model_id], getattr(counts, field))
            yield family
