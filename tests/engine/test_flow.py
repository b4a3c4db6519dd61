"""Records flow: a window of them in flight, finishing in any order, written in input order.
The jitter backend answers each request after a random delay, 16 at a time, so completion
order differs from input order; a SIGKILL mid-job and the resume still give every record
exactly once, in order."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from typing import Any

from tests.support.clients import bedrock
from tests.support.jobs import create_job, read_output_lines, records, wait_for, write_jsonl

JITTER = "jitter.model-v1"


def test_out_of_order_completions_are_written_in_input_order_across_a_crash(start_server: Callable[..., Any]) -> None:
    server = start_server("--part-bytes", "3000")
    client = bedrock(server.url)
    rows = records(1500)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", [*rows[:700], b"", b"not json", *rows[700:]])
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=JITTER)
    deadline = time.monotonic() + 60
    while client.get_model_invocation_job(jobIdentifier=arn)["processedRecordCount"] < 300:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    server.start()
    client = bedrock(server.url)
    job = wait_for(client, arn, timeout=120)
    assert job["status"] == "Completed", job.get("message")
    out = server.data_dir / "buckets/bucket/out" / arn.rsplit("/", 1)[1]
    lines = read_output_lines(out / "a.jsonl.out")
    ids = [row["recordId"] for row in rows]
    assert [line["recordId"] for line in lines[:700]] == ids[:700]
    assert "error" in lines[700] and "not valid JSON" in lines[700]["error"]["errorMessage"]
    assert [line["recordId"] for line in lines[701:]] == ids[700:]
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert (manifest["processedRecordCount"], manifest["successRecordCount"], manifest["errorRecordCount"]) == (1501, 1500, 1)
