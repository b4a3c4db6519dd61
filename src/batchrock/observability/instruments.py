"""The process's own Prometheus instruments: what happens in this process, counted where it happens
(the backends' own numbers, on the hot path, are kept by ``backend_stats``).

They live in prometheus_client's default registry (beside its process and GC collectors), so
``/metrics`` on ``batchrock serve`` and a worker's ``--metrics-port`` show them alike. This module
imports nothing of batchrock: the job store and the storage wrapper that count here must not
reach the rest of ``observability``. What is read from the job store at scrape time is
``store_metrics``.
"""

from __future__ import annotations

from prometheus_client import Counter

STORAGE_RETRIES = Counter(
    "batchrock_storage_retries", "Object-store calls retried after a storage error (an outage being waited out).",
    ("operation",))
STORAGE_GAVE_UP = Counter(
    "batchrock_storage_gave_up", "Object-store calls that still failed after --storage-outage-seconds of retries.",
    ("operation",))

STORE_WRITE_FAILURES = Counter(
    "batchrock_store_write_failures",
    "Job-store writes refused because the store cannot be written (disk full, read-only or failing filesystem).")

EVENT_DELIVERIES = Counter(
    "batchrock_event_deliveries", "Job state-change events POSTed to an --events-url; outcome: ok or failed.",
    ("outcome",))
EVENTS_DROPPED = Counter(
    "batchrock_events_dropped", "Events pruned from the outbox before every URL had them (older than the retention).")
