"""The one place a job store is opened from settings: every entry point (serve, worker, resume)
gets its store here, so each handles a read-only data dir the same way."""

from __future__ import annotations

import os

from batchrock.jobs.store import JobStore, StoreUnwritable
from batchrock.settings import Settings
from batchrock.store.dbfaults import read_only_sqlite_url
from batchrock.store.sql import SQLITE_FILE, SqlJobStore, sqlite_url


def store_for(settings: Settings) -> JobStore:
    """The job store; a SQLite store in a data dir that cannot be written opens read-only."""
    if settings.database_url:
        return SqlJobStore(settings.database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if os.access(settings.data_dir, os.W_OK):
        return SqlJobStore(sqlite_url(settings.data_dir))
    if not (settings.data_dir / SQLITE_FILE).exists():
        raise StoreUnwritable(f"the data dir {settings.data_dir} is read-only and holds no job store")
    return SqlJobStore(read_only_sqlite_url(settings.data_dir / SQLITE_FILE), read_only=True)
