"""The S3 endpoint goes away in the middle of a job (the SeaweedFS server is stopped, then
started again): the job waits with bounded, jittered retries, then continues, losing and
duplicating nothing. When it stays away past the configured limit, the job fails with a
message naming the storage error."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Iterator

import pytest

from tests.engine.test_run_s3 import put_jsonl, s3_client
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, wait_for
from tests.support.seaweed import S3_ENV, SeaweedS3

OUTAGE_SECONDS = float(os.environ.get("BATCHROCK_TEST_OUTAGE_SECONDS", "8"))
MEDIUM = "medium.model-v1"


@pytest.fixture
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("outage")).start()
    yield server
    server.stop()


def rows(count: int) -> list[dict[str, Any]]:
    return [{"recordId": f"S{i:05d}", "modelInput": claude_input("padding " * 120 + str(i))} for i in range(count)]


def running_job(start_server: Callable[..., Any], seaweed: SeaweedS3, bucket: str, count: int,
                outage_limit: str) -> tuple[Any, str]:
    """A server on SeaweedFS and a job of ``count`` records that has started running."""
    s3 = s3_client(seaweed)
    s3.create_bucket(Bucket=bucket)
    put_jsonl(s3, bucket, "in/a.jsonl", rows(count))
    server = start_server("--s3-endpoint-url", seaweed.url, "--batch-size", "4", "--storage-outage-seconds", outage_limit,
                          env=S3_ENV)
    client = bedrock(server.url)
    arn = create_job(client, f"s3://{bucket}/in/", f"s3://{bucket}/out/", model=MEDIUM)
    wait_for(client, arn, {"InProgress"})
    return client, arn


def test_job_waits_out_an_outage_and_continues(start_server: Callable[..., Any], seaweed: SeaweedS3) -> None:
    client, arn = running_job(start_server, seaweed, "outage", 2500, "90")
    time.sleep(0.5)
    seaweed.stop()
    time.sleep(OUTAGE_SECONDS)
    assert client.get_model_invocation_job(jobIdentifier=arn)["status"] == "InProgress"  # waiting, not failed
    seaweed.start()
    job = wait_for(client, arn, timeout=240)
    assert job["status"] == "Completed", job.get("message")
    job_id = arn.rsplit("/", 1)[1]
    body = s3_client(seaweed).get_object(Bucket="outage", Key=f"out/{job_id}/a.jsonl.out")["Body"].read()
    assert [json.loads(line)["recordId"] for line in body.splitlines()] == [f"S{i:05d}" for i in range(2500)]
    manifest = json.loads(s3_client(seaweed).get_object(Bucket="outage", Key=f"out/{job_id}/manifest.json.out")["Body"].read())
    assert manifest["processedRecordCount"] == manifest["successRecordCount"] == 2500


def test_outage_past_the_limit_fails_the_job_with_the_storage_error(start_server: Callable[..., Any], seaweed: SeaweedS3) -> None:
    client, arn = running_job(start_server, seaweed, "outage2", 1500, "3")
    seaweed.stop()
    job = wait_for(client, arn, timeout=120)
    assert job["status"] == "Failed" and "Storage error" in job["message"] and "retries" in job["message"]
    assert client.list_model_invocation_jobs()["invocationJobSummaries"]  # the API keeps answering
