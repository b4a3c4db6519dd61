"""Jobs and tags survive a restart; migrations are named, ordered and recorded."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from batchrock.store.migrations import MIGRATIONS
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
