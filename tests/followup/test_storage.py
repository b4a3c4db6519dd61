"""The follow-up commands over a real S3 server (SeaweedFS) instead of local buckets, and the
chunked writer that writes a retry input of any size on both stores."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchrock.followup.chunked import ChunkedWriter
from batchrock.storage.base import Location, ObjectStore
from batchrock.storage.local import LocalObjectStore
from batchrock.storage.s3 import S3ObjectStore
from tests.followup.conftest import Ran
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, records, wait_for
from tests.support.seaweed import S3_ENV, SeaweedS3
from tests.support.server import ServerProcess


@pytest.fixture
def s3(seaweed: SeaweedS3) -> Any:
    return boto3.client("s3", endpoint_url=seaweed.url, region_name="us-east-1",
                        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])


def put_jsonl(s3: Any, bucket: str, key: str, rows: list[Any]) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=b"".join(json.dumps(row).encode() + b"\n" for row in rows))


def body(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_results_and_retry_over_s3(start_server: Callable[..., ServerProcess], seaweed: SeaweedS3, s3: Any,
                                   batchrock: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    for name, value in S3_ENV.items():  # the commands reach S3 and the server with the same credentials
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BATCHROCK_S3_ENDPOINT_URL", seaweed.url)
    s3.create_bucket(Bucket="fin")
    put_jsonl(s3, "fin", "in/a.jsonl", [*records(3, "A"), {"recordId": "A-FAIL", "modelInput": claude_input("ECHO_FAIL")}])
    put_jsonl(s3, "fin", "in/b.jsonl", [*records(2, "B"), {"recordId": "B000001", "modelInput": claude_input("dup")}])
    server = start_server("--s3-endpoint-url", seaweed.url, env=S3_ENV)
    client = bedrock(server.url, account=S3_ENV["AWS_ACCESS_KEY_ID"])
    arn = create_job(client, "s3://fin/in/", "s3://fin/out/")
    assert wait_for(client, arn)["status"] == "Completed"
    ran = batchrock("results", arn, "--endpoint-url", server.url, "--output", str(tmp_path / "r.jsonl"))
    assert ran.code == 0, ran.err
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [(line["recordId"], line["status"]) for line in lines] == [
        ("A000000", "succeeded"), ("A000001", "succeeded"), ("A000002", "succeeded"), ("A-FAIL", "failed"),
        ("B000000", "succeeded"), ("B000001", "succeeded"), ("B000001", "failed")]
    retried = batchrock("retry-failed", arn, "--endpoint-url", server.url)
    assert retried.code == 0, retried.err
    retry = wait_for(client, retried.out.strip())
    assert retry["status"] == "Completed" and retry["successRecordCount"] == 1
    written = body(s3, "fin", f"retry/{arn.rsplit('/', 1)[1]}/failed.jsonl").splitlines()
    assert [json.loads(line)["recordId"] for line in written] == ["A-FAIL", "B000001"]


@pytest.mark.parametrize("store", ["local", "s3"])
def test_the_chunked_writer_composes_parts_and_leaves_none(store: str, seaweed: SeaweedS3, s3: Any,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    objects: ObjectStore = LocalObjectStore(tmp_path) if store == "local" else S3ObjectStore(seaweed.url)
    if store == "s3":
        s3.create_bucket(Bucket="chunks")
    lines = [f"line {i:04d} ".encode() * 3 + b"\n" for i in range(50)]
    writer = ChunkedWriter(objects, Location("chunks", "retry/J/failed.jsonl"), part_bytes=300)
    for line in lines:
        writer.write(line)
    assert len(writer.parts) > 3
    writer.finish()
    assert [info.key for info in objects.list_objects("chunks", "retry/")] == ["retry/J/failed.jsonl"]
    with objects.open_read("chunks", "retry/J/failed.jsonl") as stream:
        assert stream.read() == b"".join(lines)
