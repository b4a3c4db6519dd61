"""Isolation and authorisation: other accounts' jobs, roles, bucket prefixes, owners, keys that
try to leave a bucket, and limits that protect the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.security.conftest import ACCOUNT_A, KEY_B, ROLE_A, ROLE_B, SECRET_B, client, snapshot
from tests.support.jobs import records, wait_for, write_jsonl

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def create(secure: dict[str, Any], input_uri: str, output_uri: str, role: str = ROLE_A, account_client: Any = None,
           **extra: Any) -> str:
    bedrock = account_client or client(secure["url"])
    return str(bedrock.create_model_invocation_job(
        jobName=f"j{time.time_ns()}", roleArn=role, modelId=MODEL,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, **extra.pop("input_extra", {})}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri, **extra.pop("output_extra", {})}}, **extra)["jobArn"])


def code_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_other_accounts_cannot_see_or_touch_a_job(secure: dict[str, Any]) -> None:
    arn = create(secure, "s3://inputs/team-a/none/", "s3://outputs/team-a/")
    other = client(secure["url"], KEY_B, SECRET_B)
    before = snapshot(secure["data"])
    for call in (lambda: other.get_model_invocation_job(jobIdentifier=arn),
                 lambda: other.get_model_invocation_job(jobIdentifier=arn.rsplit("/", 1)[1]),
                 lambda: other.stop_model_invocation_job(jobIdentifier=arn),
                 lambda: other.tag_resource(resourceARN=arn, tags=[{"key": "k", "value": "v"}]),
                 lambda: other.untag_resource(resourceARN=arn, tagKeys=["k"]),
                 lambda: other.list_tags_for_resource(resourceARN=arn)):
        assert code_of(call) == ("ResourceNotFoundException", 404)
    forged = arn.replace(ACCOUNT_A, "222222222222")
    assert code_of(lambda: other.get_model_invocation_job(jobIdentifier=forged)) == ("ResourceNotFoundException", 404)
    assert arn not in [j["jobArn"] for j in other.list_model_invocation_jobs(maxResults=1000)["invocationJobSummaries"]]
    assert snapshot(secure["data"]) == before


def test_roles_outside_the_account_are_denied(secure: dict[str, Any]) -> None:
    before = snapshot(secure["data"])
    for role in (ROLE_B, "arn:aws:iam::111111111111:role/not-listed"):
        code = code_of(lambda role=role: create(secure, "s3://inputs/team-a/", "s3://outputs/team-a/", role=role))
        assert code == ("AccessDeniedException", 403)
    assert snapshot(secure["data"]) == before


@pytest.mark.parametrize(("input_uri", "output_uri", "fragment"), [
    ("s3://inputs/team-b/", "s3://outputs/team-a/", "may not read"),
    ("s3://inputs/team-a/", "s3://outputs/team-b/", "may not write"),
    ("s3://inputs/team-ab/", "s3://outputs/team-a/", "may not read"),
    ("s3://inputs/team-a/../team-b/", "s3://outputs/team-a/", "'..'"),
    ("s3://inputs/team-a/", "s3://outputs/team-a/../../x/", "'..'"),
    ("s3://inputs/team-a/./x/", "s3://outputs/team-a/", "'..'"),
])
def test_locations_outside_the_roles_prefixes_fail_in_validation(secure: dict[str, Any], input_uri: str, output_uri: str,
                                                                  fragment: str) -> None:
    write_jsonl(secure["data"] / "buckets/inputs/team-b/x.jsonl", records(2))
    jobs_before, buckets_before = snapshot(secure["data"])
    job = wait_for(client(secure["url"]), create(secure, input_uri, output_uri))
    assert job["status"] == "Failed" and "Access denied" in job["message"] and fragment in job["message"]
    assert snapshot(secure["data"]) == (jobs_before + 1, buckets_before)


def test_bucket_owner_and_encryption(secure: dict[str, Any]) -> None:
    bedrock = client(secure["url"])
    wrong_owner = wait_for(bedrock, create(secure, "s3://inputs/team-a/", "s3://outputs/team-a/",
                                           input_extra={"s3BucketOwner": "222222222222"}))
    assert wrong_owner["status"] == "Failed" and "not owned by account 222222222222" in wrong_owner["message"]
    kms = wait_for(bedrock, create(secure, "s3://inputs/team-a/", "s3://outputs/team-a/",
                                   output_extra={"s3EncryptionKeyId": "alias/my-key"}))
    assert kms["status"] == "Failed" and "s3EncryptionKeyId" in kms["message"]


def test_keys_cannot_leave_a_bucket(secure: dict[str, Any], tmp_path: Path) -> None:
    secret = tmp_path / "outside.jsonl"
    write_jsonl(secret, records(1))
    team_a = secure["data"] / "buckets/inputs/team-a"
    team_a.mkdir(parents=True, exist_ok=True)
    for name, target in (("link.jsonl", secret), ("linkdir", tmp_path)):
        if not (team_a / name).is_symlink():
            os.symlink(target, team_a / name)
    bedrock = client(secure["url"])
    before = snapshot(secure["data"])
    for input_uri in ("s3://inputs/team-a/link.jsonl", "s3://inputs/team-a/linkdir/"):
        job = wait_for(bedrock, create(secure, input_uri, "s3://outputs/team-a/"))
        assert job["status"] == "Failed", job
    for bad in ("s3://inputs/team-a//etc/", "s3://inputs/team-a/%2E%2E/", "s3://inputs/team-a/a\x00b/",
                "s3://inputs/team-a/" + "k" * 1100, "s3://INPUTS/team-a/"):
        assert code_of(lambda bad=bad: create(secure, bad, "s3://outputs/team-a/"))[0] == "ValidationException"
    jobs_after, buckets_after = snapshot(secure["data"])
    assert buckets_after == before[1] and jobs_after == before[0] + 2


def test_oversized_and_slow_requests(secure: dict[str, Any]) -> None:
    host, port = "127.0.0.1", secure["server"].port
    before = snapshot(secure["data"])
    with socket.create_connection((host, port)) as sock:  # headers far past the limit
        sock.sendall(b"GET /model-invocation-jobs HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        assert sock.recv(100).split(b" ")[1] in (b"400", b"431")
    slow = [socket.create_connection((host, port)) for _ in range(50)]  # idle half-open requests
    for sock in slow:
        sock.sendall(b"POST /model-invocation-job HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    body_sock = socket.create_connection((host, port))
    body_sock.sendall(b"POST /model-invocation-job HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"jobName\"")
    answer = body_sock.recv(1000)
    assert b" 408 " in answer.split(b"\r\n")[0] and time.monotonic() - started < 10
    assert client(secure["url"]).list_model_invocation_jobs(maxResults=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
    for sock in [*slow, body_sock]:
        sock.close()
    assert snapshot(secure["data"]) == before


def test_development_mode_refuses_to_leave_loopback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "batchrock.cli.main", "serve", "--host", "0.0.0.0", "--port", "0",
                           "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "--credentials-file" in done.stderr


def test_development_mode_says_so(tmp_path: Path) -> None:
    from tests.support.server import ServerProcess

    server = ServerProcess(tmp_path / "data", extra_args=("--no-worker",)).start()
    time.sleep(0.5)
    server.stop()
    assert "development mode" in server.log()
