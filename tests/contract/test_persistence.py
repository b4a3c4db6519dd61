"""Jobs and tags survive a restart; migrations are named, ordered and recorded."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from batchrock.store.migrations import MIGRATIONS
from batchrock.store.sql import SqlJobStore
from tests.conftest import job_request
from tests.support.clients import bedrock
from tests.support.server import ServerProcess


def test_jobs_and_tags_survive_a_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=("--no-worker",)).start()
    try:
        client = bedrock(server.url)
        arn = client.create_model_invocation_job(**job_request(tags=[{"key": "k", "value": "v"}]))["jobArn"]
        before = client.get_model_invocation_job(jobIdentifier=arn)
    finally:
        server.stop()
    server.start()
    try:
        client = bedrock(server.url)
        after = client.get_model_invocation_job(jobIdentifier=arn)
        before.pop("ResponseMetadata"), after.pop("ResponseMetadata")
        assert after == before
        assert client.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "k", "value": "v"}]
    finally:
        server.stop()
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'batchrock.db'}")
    with engine.connect() as conn:
        recorded = [row[0] for row in conn.execute(text("SELECT name FROM schema_migrations ORDER BY name"))]
    assert recorded == [name for name, _ in MIGRATIONS]
    assert recorded == sorted(recorded)


def test_a_store_from_before_a_column_was_added_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    SqlJobStore(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:  # what a 0003-era store looked like
        conn.execute(text("ALTER TABLE jobs DROP COLUMN failure_kind"))
        conn.execute(text("DELETE FROM schema_migrations WHERE name = '0004_add_jobs_failure_kind'"))
    SqlJobStore(url).close()
    with engine.connect() as conn:
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(jobs)"))}
        recorded = {row[0] for row in conn.execute(text("SELECT name FROM schema_migrations"))}
    assert "failure_kind" in columns and "0004_add_jobs_failure_kind" in recorded
