"""The web console at /console (issue 17): stub until it is built."""

from __future__ import annotations

from typing import Protocol

from starlette.routing import BaseRoute

from batchrock.catalog import Catalog
from batchrock.jobs.service import JobService
from batchrock.security.credentials import CredentialsFile
from batchrock.settings import Settings
from batchrock.storage.base import ObjectStore


class ConsoleParts(Protocol):
    """What the console uses of the runtime (structural, so ``console`` never imports ``runtime``)."""

    settings: Settings
    service: JobService
    catalog: Catalog
    objects: ObjectStore
    credentials: CredentialsFile | None


def console_routes(parts: ConsoleParts) -> list[BaseRoute]:
    return []
