"""Prometheus metrics: ``/metrics`` on ``batchrock serve``, and a worker's own ``--metrics-port``.

A scrape shows this process's instruments (``instruments``: backends, storage retries, store
write failures, event deliveries, with prometheus_client's process and GC metrics) and what the
job store holds at that moment (``store_metrics``). The metric list is in docs/observability.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from batchrock.jobs.clock import Clock
from batchrock.jobs.store import JobStore
from batchrock.observability.store_metrics import JobStoreCollector
from batchrock.settings import Settings


class MetricsParts(Protocol):
    """What the metrics use of the runtime (structural, so ``observability`` never imports ``runtime``)."""

    settings: Settings
    store: JobStore
    clock: Clock


class _ProcessCollector(Collector):
    """The default registry (this process's instruments) as one collector of a scrape's registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry(parts: MetricsParts) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessCollector())
    registry.register(JobStoreCollector(parts.store, parts.clock))
    return registry


def metrics_routes(parts: MetricsParts) -> list[BaseRoute]:
    registry = scrape_registry(parts)

    async def metrics(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))  # text, or OpenMetrics if asked
        body = await run_in_threadpool(encode, registry)  # the store is read: off the event loop
        return Response(body, headers={"Content-Type": content_type})

    return [Route("/metrics", metrics, methods=["GET"])]


class MetricsServer:
    """A worker's ``/metrics``: prometheus_client's own small HTTP server, in a thread."""

    def __init__(self, parts: MetricsParts, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, host, registry=scrape_registry(parts))
        self.port = int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
