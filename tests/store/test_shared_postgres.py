"""Several processes share one PostgreSQL job store: `batchrock serve` and a `batchrock worker`
claim jobs from it side by side, and every record of every job is written exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.store.conftest import fresh_database
from tests.support.clients import bedrock
from tests.support.jobs import create_job, read_output_lines, records, wait_for, write_jsonl
from tests.support.server import ServerProcess

ECHO_CATALOG = str(Path(__file__).parents[1] / "support" / "echo_catalog.toml")


def test_serve_and_a_worker_share_the_jobs(postgres_url: str, tmp_path: Path) -> None:
    url = fresh_database(postgres_url)
    shared = ("--database-url", url, "--catalog", ECHO_CATALOG, "--max-running-jobs", "1", "--lease-seconds", "3",
              "--batch-size", "4", "--part-bytes", "4096")
    server = ServerProcess(tmp_path / "data", extra_args=shared).start()
    with open(tmp_path / "worker.log", "wb") as log:  # the worker writes to its own copy of the descriptor
        worker = subprocess.Popen([sys.executable, "-m", "batchrock.cli.main", "worker", "--data-dir", str(tmp_path / "data"),
                                   *shared], stdout=log, stderr=subprocess.STDOUT)
    try:
        client = bedrock(server.url)
        arns = []
        for number in range(4):
            write_jsonl(tmp_path / f"data/buckets/shared/in{number}/a.jsonl", records(150, prefix=f"J{number}-"))
            arns.append(create_job(client, f"s3://shared/in{number}/", f"s3://shared/out{number}/", model="slow.model-v1"))
        owners = lease_owners_seen(url, client, arns)
        assert len({owner.split(":")[1] for owner in owners}) == 2, owners  # two processes ran jobs
        assert_pages_continue_on_another_api_server(client, url, tmp_path)
        for number, arn in enumerate(arns):
            job = wait_for(client, arn, timeout=120)
            assert job["status"] == "Completed" and job["successRecordCount"] == 150, job
            lines = read_output_lines(tmp_path / f"data/buckets/shared/out{number}" / arn.rsplit("/", 1)[1] / "a.jsonl.out")
            assert [line["recordId"] for line in lines] == [f"J{number}-{i:06d}" for i in range(150)]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        server.stop()


def assert_pages_continue_on_another_api_server(client: Any, url: str, tmp_path: Path) -> None:
    """Both API servers sign nextTokens with the store's shared secret."""
    second = ServerProcess(tmp_path / "data2", extra_args=("--database-url", url, "--no-worker")).start()
    try:
        first_page = client.list_model_invocation_jobs(maxResults=2)
        rest = bedrock(second.url).list_model_invocation_jobs(maxResults=10, nextToken=first_page["nextToken"])
        names = [job["jobName"] for job in first_page["invocationJobSummaries"] + rest["invocationJobSummaries"]]
        assert len(names) == 4 and len(set(names)) == 4
    finally:
        second.stop()


def lease_owners_seen(url: str, client: object, arns: list[str], timeout: float = 60) -> set[str]:
    engine = create_engine(url)
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len({owner.split(":")[1] for owner in seen}) < 2:
            with engine.connect() as conn:
                seen |= set(conn.execute(text("SELECT lease_owner FROM jobs WHERE lease_owner IS NOT NULL")).scalars())
            time.sleep(0.05)
    finally:
        engine.dispose()
    return seen
