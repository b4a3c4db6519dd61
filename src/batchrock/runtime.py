"""Assembly: settings -> store, clock, service and the HTTP app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette

from batchrock.api.app import create_app
from batchrock.jobs.clock import Clock, SystemClock
from batchrock.jobs.pagination import TokenSigner
from batchrock.jobs.service import JobService
from batchrock.settings import Settings
from batchrock.store.sql import SqlJobStore, sqlite_url


@dataclass
class Runtime:
    settings: Settings
    store: SqlJobStore
    clock: Clock
    service: JobService

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> "Runtime":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = SqlJobStore(settings.database_url or sqlite_url(settings.data_dir))
        clock = clock or SystemClock()
        service = JobService(
            store,
            clock,
            TokenSigner(settings.secret()),
            default_page_size=settings.default_page_size,
            max_tags=settings.max_tags_per_resource,
        )
        return cls(settings, store, clock, service)

    def app(self) -> Starlette:
        return create_app(self.settings, self.service)

    def close(self) -> None:
        self.store.close()
