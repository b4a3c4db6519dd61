"""The S3 endpoint goes away in the middle of a job (the SeaweedFS server is stopped, then
started again): the job waits with bounded, jittered retries, then continues, losing and
duplicating nothing, also across a restart of the service during the outage. When it stays
away past the configured limit, the job fails with a message naming the storage error, and
resumes from its checkpoint when the user asks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.engine.test_run_s3 import put_jsonl, s3_client
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, wait_for
from tests.support.seaweed import S3_ENV, SeaweedS3

OUTAGE_SECONDS = float(os.environ.get("BATCHROCK_TEST_OUTAGE_SECONDS", "30"))
MEDIUM = "medium.model-v1"


@pytest.fixture
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("outage")).start()
    yield server
    server.stop()


def rows(count: int) -> list[dict[str, Any]]:
    return [{"recordId": f"S{i:05d}", "modelInput": claude_input("padding " * 120 + str(i))} for i in range(count)]


def running_jobs(start_server: Callable[..., Any], seaweed: SeaweedS3, buckets: list[str], count: int,
                 outage_limit: str) -> tuple[Any, Any, list[str]]:
    """A server on SeaweedFS and one job of ``count`` records per bucket, all started running."""
    s3 = s3_client(seaweed)
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
        put_jsonl(s3, bucket, "in/a.jsonl", rows(count))
    server = start_server("--s3-endpoint-url", seaweed.url, "--batch-size", "4", "--storage-outage-seconds", outage_limit,
                          env=S3_ENV)
    client = bedrock(server.url)
    arns = [create_job(client, f"s3://{bucket}/in/", f"s3://{bucket}/out/", model=MEDIUM) for bucket in buckets]
    for arn in arns:
        wait_for(client, arn, {"InProgress"})
    return server, client, arns


def assert_every_record_once(seaweed: SeaweedS3, bucket: str, arn: str, count: int) -> None:
    job_id = arn.rsplit("/", 1)[1]
    body = s3_client(seaweed).get_object(Bucket=bucket, Key=f"out/{job_id}/a.jsonl.out")["Body"].read()
    assert [json.loads(line)["recordId"] for line in body.splitlines()] == [f"S{i:05d}" for i in range(count)]
    manifest = json.loads(s3_client(seaweed).get_object(Bucket=bucket, Key=f"out/{job_id}/manifest.json.out")["Body"].read())
    assert manifest["processedRecordCount"] == manifest["successRecordCount"] == count


def test_job_waits_out_an_outage_and_continues(start_server: Callable[..., Any], seaweed: SeaweedS3) -> None:
    server, client, (arn,) = running_jobs(start_server, seaweed, ["outage"], 2500, "90")
    time.sleep(0.5)
    seaweed.stop()
    outage_started = time.monotonic()
    time.sleep(3)
    # a restart in the middle of the outage: the waiting job gives up its wait, not the job
    server.stop()
    assert "shutting down while storage was unreachable" in server.log()
    server.start()
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
    assert client.get_model_invocation_job(jobIdentifier=arn)["status"] == "InProgress"  # waiting, not failed
    seaweed.start()
    job = wait_for(client, arn, timeout=240)
    assert job["status"] == "Completed", job.get("message")
    assert_every_record_once(seaweed, "outage", arn, 2500)


def test_outage_past_the_limit_fails_the_job_and_the_user_can_resume_it(start_server: Callable[..., Any],
                                                                         seaweed: SeaweedS3) -> None:
    server, client, arns = running_jobs(start_server, seaweed, ["outage2", "outage3"], 3000, "3")
    seaweed.stop()
    for arn in arns:
        job = wait_for(client, arn, timeout=120)
        assert job["status"] == "Failed" and "Storage error" in job["message"] and "retries" in job["message"]
        assert "batchrock resume" in job["message"]
    assert len(client.list_model_invocation_jobs()["invocationJobSummaries"]) == 2  # the API keeps answering
    seaweed.start()
    # one job through the operator command, against the live server's store ...
    resumed = batchrock("resume", arns[0], "--data-dir", str(server.data_dir))
    assert resumed.returncode == 0 and "resumed" in resumed.stdout, resumed.stderr
    assert wait_for(client, arns[0], timeout=240)["status"] == "Completed"
    assert_every_record_once(seaweed, "outage2", arns[0], 3000)
    assert client.get_model_invocation_job(jobIdentifier=arns[1])["status"] == "Failed"  # not asked: stays Failed
    # ... the other by restarting the service with --resume-failed
    server.stop()
    server.extra_args += ("--resume-failed",)
    server.start()
    job = wait_for(client, arns[1], timeout=240)
    assert job["status"] == "Completed" and "endTime" in job and "message" not in job, job
    assert_every_record_once(seaweed, "outage3", arns[1], 3000)
    again = batchrock("resume", arns[1], "--data-dir", str(server.data_dir))
    assert again.returncode == 1 and "it is Completed" in again.stderr


def batchrock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "batchrock.cli.main", *args], capture_output=True, text=True, timeout=60)
