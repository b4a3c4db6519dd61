"""SIGTERM to `batchrock serve`: the running job checkpoints, releases its lease, and the next
start resumes it at once (not after the lease lapses), with every record exactly once."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from typing import Any

from tests.support.clients import bedrock
from tests.support.jobs import create_job, read_output_lines, records, wait_for, write_jsonl

MEDIUM = "medium.model-v1"


def test_sigterm_checkpoints_and_the_next_start_resumes(start_server: Callable[..., Any]) -> None:
    server = start_server("--part-bytes", "4096", "--batch-size", "4", "--lease-seconds", "120")
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(3000))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=MEDIUM)
    wait_for(client, arn, {"InProgress"})
    time.sleep(1.0)
    server.stop(signal.SIGTERM)
    assert "Traceback" not in server.log()
    server.start()
    client = bedrock(server.url)
    started = time.monotonic()
    job = wait_for(client, arn, timeout=100)
    assert job["status"] == "Completed" and time.monotonic() - started < 100  # far below the 120 s lease
    out = server.data_dir / "buckets/bucket/out" / arn.rsplit("/", 1)[1]
    assert [line["recordId"] for line in read_output_lines(out / "a.jsonl.out")] == [f"R{i:06d}" for i in range(3000)]
    assert json.loads((out / "manifest.json.out").read_text())["processedRecordCount"] == 3000
