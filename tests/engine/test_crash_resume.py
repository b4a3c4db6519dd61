"""SIGKILL the server at several points of a multi-thousand-record job; after restarts the
output holds every recordId exactly once, in order, with a correct manifest."""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from typing import Any

from tests.support.clients import bedrock
from tests.support.jobs import create_job, read_output_lines, records, wait_for, write_jsonl

MEDIUM = "medium.model-v1"  # echo backend, 2 ms per record


def test_sigkill_at_several_points_loses_and_duplicates_nothing(start_server: Callable[..., Any]) -> None:
    server = start_server("--part-bytes", "4096", "--batch-size", "4")
    client = bedrock(server.url)
    buckets = server.data_dir / "buckets/bucket"
    write_jsonl(buckets / "in/a.jsonl", records(2500, "A"))
    write_jsonl(buckets / "in/b.jsonl", [*records(1500, "B"), b"broken line"])
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=MEDIUM)
    wait_for(client, arn, {"InProgress"})
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        time.sleep(rng.uniform(0.3, 1.5))
        if client.get_model_invocation_job(jobIdentifier=arn)["status"] != "InProgress":
            break
        server.stop(signal.SIGKILL)
        kills += 1
        server.start()
        client = bedrock(server.url)
    assert kills >= 1
    job = wait_for(client, arn, timeout=180)
    assert job["status"] == "Completed", job.get("message")
    out = buckets / "out" / arn.rsplit("/", 1)[1]
    a = [line["recordId"] for line in read_output_lines(out / "a.jsonl.out")]
    b = read_output_lines(out / "b.jsonl.out")
    assert a == [f"A{i:06d}" for i in range(2500)]
    assert [line["recordId"] for line in b[:-1]] == [f"B{i:06d}" for i in range(1500)]
    assert "error" in b[-1] and len(b) == 1501
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert manifest == {**manifest, "totalRecordCount": 4001, "processedRecordCount": 4001,
                        "successRecordCount": 4000, "errorRecordCount": 1}
    assert (job["processedRecordCount"], job["successRecordCount"], job["errorRecordCount"]) == (4001, 4000, 1)
