"""Assembly: settings -> store, object storage, clock, service, worker and the HTTP app."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette

from batchrock.api.app import create_app
from batchrock.api.identity import Authenticator
from batchrock.backends.registry import BackendRegistry
from batchrock.catalog import Catalog
from batchrock.console.routes import console_routes
from batchrock.engine.config import EngineConfig
from batchrock.engine.runner import RunDeps
from batchrock.engine.worker import Worker, new_worker_id
from batchrock.jobs.clock import Clock, FileOffsetClock, SystemClock
from batchrock.jobs.pagination import TokenSigner
from batchrock.jobs.service import JobService
from batchrock.jobs.store import JobStore
from batchrock.observability.backend_metrics import instrument
from batchrock.observability.events import DeliveryConfig, EventDelivery
from batchrock.observability.metrics import metrics_routes
from batchrock.security.credentials import CredentialsFile
from batchrock.security.policy import Policy
from batchrock.settings import Settings
from batchrock.storage.base import ObjectStore
from batchrock.storage.local import LocalObjectStore
from batchrock.storage.retrying import RetryingObjectStore
from batchrock.storage.s3 import S3ObjectStore
from batchrock.storage.spec import StorageSpec
from batchrock.store.factory import store_for


def object_store_for(settings: Settings, shutdown: threading.Event | None = None) -> ObjectStore:
    if settings.s3_endpoint_url:
        inner: ObjectStore = S3ObjectStore(settings.s3_endpoint_url)
    else:
        keep_free = settings.keep_free_bytes if settings.database_url is None else 0
        inner = LocalObjectStore(settings.data_dir, keep_free)
    return RetryingObjectStore(inner, settings.storage_outage_seconds, interrupt=shutdown)


def clock_for(settings: Settings) -> Clock:
    return FileOffsetClock(settings.clock_offset_file) if settings.clock_offset_file else SystemClock()


@dataclass
class Runtime:
    settings: Settings
    store: JobStore
    clock: Clock
    service: JobService
    objects: ObjectStore
    catalog: Catalog
    backends: BackendRegistry  # every backend a job here uses; closed with the runtime
    engine: EngineConfig
    credentials: CredentialsFile | None
    policy: Policy
    shutdown: threading.Event  # set when the process stops: jobs checkpoint, storage waits give up

    @classmethod
    def build(cls, settings: Settings, engine: EngineConfig | None = None, clock: Clock | None = None) -> Runtime:
        backends = BackendRegistry.from_entry_points(instrument)  # each shared backend is timed and counted
        catalog = Catalog.load(settings.catalog_path, backends)  # first: a bad catalog stops start-up at once
        store = store_for(settings)
        clock = clock or clock_for(settings)
        credentials = CredentialsFile(settings.credentials_file) if settings.credentials_file else None
        policy = Policy(credentials)
        # SQLite: the data dir's secret; a shared database: one secret for every API server on it
        secret = store.shared_secret("pagination") if settings.database_url else settings.secret()
        service = JobService(store, clock, TokenSigner(secret), policy,
                             default_page_size=settings.default_page_size, max_tags=settings.max_tags_per_resource)
        shutdown = threading.Event()
        return cls(settings, store, clock, service, object_store_for(settings, shutdown), catalog, backends,
                   engine or EngineConfig(), credentials, policy, shutdown)

    def worker(self) -> Worker:
        deps = RunDeps(self.store, self.objects, self.clock, self.engine, new_worker_id(), self.shutdown)
        storage = StorageSpec(self.settings.data_dir, self.settings.s3_endpoint_url, self.settings.storage_outage_seconds)
        return Worker(deps, self.catalog, self.policy, self.backends, storage)

    def event_delivery(self) -> EventDelivery:
        """The loop that sends the outbox's state-change events to the --events-url receivers (or only
        prunes it, without one); the caller starts and stops it."""
        return EventDelivery(self.store.outbox, DeliveryConfig.from_settings(self.settings), self.clock)

    def app(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            worker = self.worker() if self.settings.run_worker else None
            events = self.event_delivery()
            self.service.on_new_job.append(events.wake)
            events.start()
            if worker is not None:
                self.service.on_new_job.append(worker.wake)
                worker.start()
            yield
            if worker is not None:
                worker.stop()
            events.stop()

        # signatures are checked against real time, not the (test-shiftable) clock of job rules
        authenticator = Authenticator(self.credentials, self.settings.default_account_id, SystemClock().now,
                                      self.settings.regions)
        return create_app(self.settings, self.service, authenticator, lifespan=lifespan,
                          extra_routes=[*console_routes(self), *metrics_routes(self)])

    def close(self) -> None:
        self.backends.close()  # model hosts and connection pools end with the process's backends
        self.store.close()
