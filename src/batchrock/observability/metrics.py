"""Prometheus metrics at /metrics (issue 17): stub until it is built."""

from __future__ import annotations

from typing import Protocol

from starlette.routing import BaseRoute

from batchrock.jobs.store import JobStore
from batchrock.settings import Settings


class MetricsParts(Protocol):
    """What the metrics use of the runtime (structural, so ``observability`` never imports ``runtime``)."""

    settings: Settings
    store: JobStore


def metrics_routes(parts: MetricsParts) -> list[BaseRoute]:
    return []
