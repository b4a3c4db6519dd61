"""The same jobs against a real S3 server (SeaweedFS): multi-file prefixes, multipart output."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, records, wait_for
from tests.support.seaweed import S3_ENV, SeaweedS3


def s3_client(seaweed: SeaweedS3) -> Any:
    return boto3.client("s3", endpoint_url=seaweed.url, region_name="us-east-1",
                        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])


def put_jsonl(s3: Any, bucket: str, key: str, rows: list[Any]) -> None:
    body = b"".join((row if isinstance(row, bytes) else json.dumps(row).encode()) + b"\n" for row in rows)
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def test_job_over_real_s3(start_server: Callable[..., Any], seaweed: SeaweedS3) -> None:
    s3 = s3_client(seaweed)
    s3.create_bucket(Bucket="batch-in")
    s3.create_bucket(Bucket="batch-out")
    big = [{"recordId": f"L{i:05d}", "modelInput": claude_input("word " * 300)} for i in range(4000)]
    put_jsonl(s3, "batch-in", "jobs/one.jsonl", [*records(20), b"{broken"])
    put_jsonl(s3, "batch-in", "jobs/nested/two.jsonl", big)
    put_jsonl(s3, "batch-in", "jobs/skip.txt", records(1))
    server = start_server("--s3-endpoint-url", seaweed.url, "--batch-size", "64", "--part-bytes", "1", env=S3_ENV)
    client = bedrock(server.url)
    arn = create_job(client, "s3://batch-in/jobs/", "s3://batch-out/results/")
    job = wait_for(client, arn, timeout=180)
    assert job["status"] == "Completed", job.get("message")
    job_id = arn.rsplit("/", 1)[1]
    listed = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="batch-out", Prefix="results/")["Contents"])
    assert listed == [f"results/{job_id}/manifest.json.out", f"results/{job_id}/nested/two.jsonl.out",
                      f"results/{job_id}/one.jsonl.out"]
    two = s3.get_object(Bucket="batch-out", Key=f"results/{job_id}/nested/two.jsonl.out")["Body"].read().splitlines()
    assert [json.loads(line)["recordId"] for line in two] == [row["recordId"] for row in big]
    assert len(b"\n".join(two)) > 5 * 1024 * 1024  # more than one multipart part
    manifest = json.loads(s3.get_object(Bucket="batch-out", Key=f"results/{job_id}/manifest.json.out")["Body"].read())
    assert (manifest["totalRecordCount"], manifest["successRecordCount"], manifest["errorRecordCount"]) == (4021, 4020, 1)


def test_missing_bucket_fails_validation(start_server: Callable[..., Any], seaweed: SeaweedS3) -> None:
    server = start_server("--s3-endpoint-url", seaweed.url, env=S3_ENV)
    client = bedrock(server.url)
    job = wait_for(client, create_job(client, "s3://no-such-bucket/in/", "s3://batch-out/results/"))
    assert job["status"] == "Failed" and "no-such-bucket" in job["message"]
