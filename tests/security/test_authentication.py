"""Attacks on authentication against a live server with a credentials file. Every attempt is
refused with the AWS error code for its case and leaves the store and the buckets unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.security.conftest import KEY_A, KEY_B, ROLE_A, SECRET_A, SECRET_B, client, environment, snapshot
from tests.support.signing import presign, send, sign

CREATE_BODY = json.dumps({
    "jobName": "attack", "roleArn": ROLE_A, "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
    "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://inputs/team-a/"}},
    "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://outputs/team-a/"}}}).encode()
JSON = {"Content-Type": "application/json"}


def refused(secure: dict[str, Any], attempt: Callable[[], httpx.Response], status: int, code: str) -> httpx.Response:
    before = snapshot(secure["data"])
    response = attempt()
    assert (response.status_code, response.headers.get("x-amzn-errortype")) == (status, code), response.text
    assert "message" in response.json() and response.headers.get("x-amzn-requestid")
    assert snapshot(secure["data"]) == before
    return response


def create_request(secure: dict[str, Any], **kwargs: Any) -> Any:
    return sign(secure["url"], "POST", "/model-invocation-job", CREATE_BODY, kwargs.pop("key", KEY_A),
                kwargs.pop("secret", SECRET_A), headers=JSON, **kwargs)


def test_the_happy_path_still_works_for_boto3_and_the_aws_cli(secure: dict[str, Any]) -> None:
    a = client(secure["url"])
    arn = a.create_model_invocation_job(jobName="happy", roleArn=ROLE_A, modelId="anthropic.claude-3-haiku-20240307-v1:0",
                                        inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://inputs/team-a/happy/"}},
                                        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://outputs/team-a/"}})["jobArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:111111111111:")
    done = subprocess.run([sys.executable, "-m", "awscli", "bedrock", "get-model-invocation-job", "--job-identifier", arn,
                           "--endpoint-url", secure["url"], "--query", "jobName", "--output", "text"],
                          capture_output=True, text=True, env=environment(KEY_A, SECRET_A), timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "happy", done.stderr
    url = presign(secure["url"], f"/model-invocation-job/{arn.rsplit('/', 1)[1]}", KEY_A, SECRET_A)
    assert httpx.get(url).json()["jobName"] == "happy"


def test_unsigned_and_malformed(secure: dict[str, Any]) -> None:
    url = secure["url"]
    refused(secure, lambda: httpx.post(url + "/model-invocation-job", content=CREATE_BODY, headers=JSON), 403,
            "MissingAuthenticationTokenException")
    refused(secure, lambda: httpx.get(url + "/model-invocation-jobs", headers={"Authorization": "AWS4-HMAC-SHA256 garbage"}),
            403, "IncompleteSignatureException")


def test_unknown_key_and_wrong_secret(secure: dict[str, Any]) -> None:
    unknown = refused(secure, lambda: send(create_request(secure, key="AKIDNOBODY")), 403, "UnrecognizedClientException")
    wrong = refused(secure, lambda: send(create_request(secure, secret="not-the-secret")), 403, "InvalidSignatureException")
    assert "AKID" not in unknown.text and "secret" not in wrong.json()["message"].lower().replace("secret access key", "")


@pytest.mark.parametrize("change", [
    lambda p: p.update(method="PUT"),
    lambda p: p.update(url=p["url"].replace("/model-invocation-job", "/model-invocation-jobs")),
    lambda p: p.update(url=p["url"] + "?x=1"),
    lambda p: p.update(body=p["body"].replace(b"attack", b"attacx")),
    lambda p: p["headers"].update({"X-Amz-Date": p["headers"]["X-Amz-Date"][:-3] + "59Z"}),
    lambda p: p["headers"].update({"Content-Type": "application/x-amz-json-1.1"}),
    lambda p: p["headers"].update({"Authorization": p["headers"]["Authorization"].replace("us-east-1", "us-west-2")}),
    lambda p: p["headers"].update({"Authorization": p["headers"]["Authorization"].replace("host;x-amz-date", "host")}),
    lambda p: p["headers"].update({"X-Amz-Content-SHA256": "0" * 64}),
], ids=["method", "path", "query", "body", "date", "header", "region", "unsigned-date", "payload-hash"])
def test_tampering_after_signing_is_refused(secure: dict[str, Any], change: Callable[[dict], None]) -> None:
    response = refused(secure, lambda: send(create_request(secure), change), 403, "InvalidSignatureException")
    assert response.status_code == 403


def test_replays_outside_the_skew_window_and_wrong_service(secure: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    for moment in (now - timedelta(minutes=16), now + timedelta(minutes=16)):
        refused(secure, lambda moment=moment: send(create_request(secure, at=moment)), 403, "InvalidSignatureException")
    refused(secure, lambda: send(create_request(secure, service="s3")), 403, "InvalidSignatureException")
    response = send(sign(secure["url"], "GET", "/model-invocation-jobs", b"", KEY_A, SECRET_A, at=now - timedelta(minutes=10)))
    assert response.status_code == 200  # inside the window


def test_presigned_urls(secure: dict[str, Any]) -> None:
    path = "/model-invocation-jobs"
    good = presign(secure["url"], path, KEY_A, SECRET_A)
    assert httpx.get(good).status_code == 200
    refused(secure, lambda: httpx.get(good.replace("X-Amz-Expires=300", "X-Amz-Expires=301")), 403, "InvalidSignatureException")
    refused(secure, lambda: httpx.get(good + "&statusEquals=Failed"), 403, "InvalidSignatureException")
    short = presign(secure["url"], path, KEY_A, SECRET_A, expires=1)
    time.sleep(2.1)
    refused(secure, lambda: httpx.get(short), 403, "InvalidSignatureException")


def test_credentials_file_reloads_without_restart(secure: dict[str, Any]) -> None:
    original = secure["credentials"].read_text()
    try:
        secure["credentials"].write_text(original.replace('access_key_id = "AKIDACCOUNTB"', 'access_key_id = "AKIDROTATED"'))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if send(sign(secure["url"], "GET", "/model-invocation-jobs", b"", "AKIDROTATED", SECRET_B)).status_code == 200:
                break
            time.sleep(0.3)
        else:
            pytest.fail("the new key was never accepted")
        old = send(sign(secure["url"], "GET", "/model-invocation-jobs", b"", KEY_B, SECRET_B))
        assert old.headers.get("x-amzn-errortype") == "UnrecognizedClientException"
    finally:
        secure["credentials"].write_text(original)
        time.sleep(1.2)



def test_control_the_same_signed_request_untampered_is_accepted(secure: dict[str, Any]) -> None:
    body = CREATE_BODY.replace(b'"attack"', b'"control-' + str(time.time_ns()).encode() + b'"')
    response = send(sign(secure["url"], "POST", "/model-invocation-job", body, KEY_A, SECRET_A, headers=JSON))
    assert response.status_code == 200, response.text
