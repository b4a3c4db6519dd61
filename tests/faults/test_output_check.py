"""The end-of-job check: an output file that no longer holds its checkpointed records fails the
job loudly (never Completed), and `batchrock resume` assembles it again from its parts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.support.clients import bedrock
from tests.support.jobs import create_job, read_output_lines, records, wait_for, write_jsonl

SLOW = "slow.model-v1"  # echo backend, 20 ms per record


def test_an_output_that_lost_a_line_fails_the_job_and_resume_repairs_it(start_server: Callable[..., Any]) -> None:
    server = start_server("--part-bytes", "2048", "--batch-size", "4")
    client = bedrock(server.url)
    buckets = server.data_dir / "buckets/bucket"
    write_jsonl(buckets / "in/a.jsonl", records(40, "A"))
    write_jsonl(buckets / "in/b.jsonl", records(250, "B"))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW)
    out = buckets / "out" / arn.rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while not (out / "a.jsonl.out").exists():
        assert time.monotonic() < deadline, "a.jsonl.out was never composed"
        time.sleep(0.05)
    # something outside the job (a stale writer, a bad disk) cuts a line while b.jsonl still runs
    lines = (out / "a.jsonl.out").read_bytes().splitlines(keepends=True)
    (out / "a.jsonl.out").write_bytes(b"".join(lines[:-1]))
    job = wait_for(client, arn, timeout=120)
    assert job["status"] == "Failed"
    assert "a.jsonl.out holds 39 lines where the checkpoint counts 40 records" in job["message"]
    assert f"batchrock resume {arn.rsplit('/', 1)[1]}" in job["message"]
    resumed = subprocess.run([sys.executable, "-m", "batchrock.cli.main", "resume", arn, "--data-dir",
                              str(server.data_dir)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    job = wait_for(client, arn, {"Completed", "Failed"}, timeout=60)
    assert job["status"] == "Completed", job.get("message")
    assert [line["recordId"] for line in read_output_lines(out / "a.jsonl.out")] == [f"A{i:06d}" for i in range(40)]
    assert [line["recordId"] for line in read_output_lines(out / "b.jsonl.out")] == [f"B{i:06d}" for i in range(250)]
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert (manifest["processedRecordCount"], manifest["successRecordCount"]) == (290, 290)
    assert sorted(p.name for p in out.iterdir()) == ["a.jsonl.out", "b.jsonl.out", "manifest.json.out"]
