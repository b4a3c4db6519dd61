"""One job store per test, on SQLite and on PostgreSQL (a throwaway server, see
tests/support/postgres.py; skipped where no PostgreSQL binaries are installed)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from batchrock.store.sql import SqlJobStore, sqlite_url
from tests.support.postgres import PostgresServer, postgres_bin_dir


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("BATCHROCK_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (Debian package postgresql); .ci/run installs them")
    server = PostgresServer(bin_dir).start()
    yield server.url
    server.stop()


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server, so tests do not see each other's jobs."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return fresh_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[SqlJobStore]:
    opened = SqlJobStore(store_url)
    yield opened
    opened.close()
