"""Every status path: stop mid-job, expiry and timeout with the test clock, queueing in Scheduled."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from tests.support.clients import bedrock
from tests.support.jobs import create_job, read_output_lines, records, wait_for, write_jsonl

SLOW = "slow.model-v1"  # echo backend with 20 ms per record (tests/support/echo_catalog.toml)


def test_stop_mid_job_keeps_processed_outputs(start_server: Callable[..., Any]) -> None:
    server = start_server("--part-bytes", "2048", "--batch-size", "2")
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(1000))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW)
    wait_for(client, arn, {"InProgress"})
    time.sleep(1.0)
    client.stop_model_invocation_job(jobIdentifier=arn)
    asked = time.monotonic()
    assert client.get_model_invocation_job(jobIdentifier=arn)["status"] in ("Stopping", "Stopped")
    job = wait_for(client, arn)
    assert job["status"] == "Stopped" and time.monotonic() - asked < 5
    out = server.data_dir / "buckets/bucket/out" / arn.rsplit("/", 1)[1]
    lines = read_output_lines(out / "a.jsonl.out")
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert 0 < len(lines) < 1000
    assert manifest["processedRecordCount"] == len(lines) == job["processedRecordCount"]
    assert [line["recordId"] for line in lines] == [f"R{i:06d}" for i in range(len(lines))]


def test_counts_move_while_running(start_server: Callable[..., Any]) -> None:
    server = start_server("--batch-size", "2")
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(300))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW)
    wait_for(client, arn, {"InProgress"})
    seen = set()
    while (job := client.get_model_invocation_job(jobIdentifier=arn))["status"] == "InProgress":
        seen.add(job["processedRecordCount"])
        assert job["totalRecordCount"] == 300
        time.sleep(0.2)
    assert len(seen) >= 3
    assert job["status"] == "Completed" and job["processedRecordCount"] == 300


def test_scheduled_job_that_never_starts_expires(start_server: Callable[..., Any], tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    clock.write_text("0")
    server = start_server("--max-running-jobs", "0", env={"BATCHROCK_TEST_CLOCK_FILE": str(clock)})
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(3))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", timeoutDurationInHours=24)
    wait_for(client, arn, {"Scheduled"})
    clock.write_text(str(25 * 3600))
    job = wait_for(client, arn)
    assert job["status"] == "Expired" and "jobExpirationTime" in job["message"]
    assert job["endTime"] >= job["jobExpirationTime"]


def test_running_job_past_its_timeout_is_partially_completed(start_server: Callable[..., Any], tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    clock.write_text("0")
    server = start_server("--batch-size", "2", env={"BATCHROCK_TEST_CLOCK_FILE": str(clock)})
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(1000))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW, timeoutDurationInHours=24)
    wait_for(client, arn, {"InProgress"})
    time.sleep(0.5)
    clock.write_text(str(25 * 3600))
    job = wait_for(client, arn)
    assert job["status"] == "PartiallyCompleted" and "timed out" in job["message"]
    out = server.data_dir / "buckets/bucket/out" / arn.rsplit("/", 1)[1]
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert 0 < manifest["processedRecordCount"] < 1000
    assert len(read_output_lines(out / "a.jsonl.out")) == manifest["processedRecordCount"]


def test_jobs_beyond_the_running_limit_wait_in_scheduled(start_server: Callable[..., Any]) -> None:
    server = start_server("--max-running-jobs", "1", "--batch-size", "2")
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(100))
    first = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW)
    second = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW)
    wait_for(client, first, {"InProgress"})
    assert wait_for(client, second, {"Scheduled", "InProgress"})["status"] == "Scheduled"
    assert wait_for(client, first)["status"] == "Completed"
    assert wait_for(client, second)["status"] == "Completed"
    first_job = client.get_model_invocation_job(jobIdentifier=first)
    second_job = client.get_model_invocation_job(jobIdentifier=second)
    assert first_job["endTime"] <= second_job["endTime"]
