"""What botocore's client does not check, sent raw: every violation is a 400 ValidationException."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import job_request
from tests.support.clients import signed

JSON = {"Content-Type": "application/json"}


def create(server: Any, body: Any, headers: dict[str, str] = JSON) -> Any:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return signed(server.url, "POST", "/model-invocation-job", payload, headers)


def assert_validation(response: Any, *fragments: str) -> None:
    assert response.status == 400, response.body
    assert response.error_type == "ValidationException"
    message = response.json()["message"]
    for fragment in fragments:
        assert fragment in message, message
    assert response.headers.get("x-amzn-requestid")


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"jobName": "x" * 64}, ("jobName", "length less than or equal to 63")),
        ({"jobName": "my_job"}, ("jobName", "regular expression pattern")),
        ({"jobName": ""}, ("jobName", "length greater than or equal to 1")),
        ({"timeoutDurationInHours": 200}, ("timeoutDurationInHours", "less than or equal to 168")),
        ({"timeoutDurationInHours": 23}, ("timeoutDurationInHours", "greater than or equal to 24")),
        ({"timeoutDurationInHours": "48"}, ("timeoutDurationInHours", "integer")),
        ({"timeoutDurationInHours": True}, ("timeoutDurationInHours", "integer")),
        ({"modelInvocationType": "Chat"}, ("modelInvocationType", "enum value set: [InvokeModel, Converse]")),
        ({"roleArn": "not-an-arn"}, ("roleArn", "regular expression")),
        ({"modelId": "has spaces"}, ("modelId", "regular expression")),
        ({"clientRequestToken": "a_b"}, ("clientRequestToken", "regular expression")),
        ({"inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://Bucket/in/"}}}, ("inputDataConfig.s3InputDataConfig.s3Uri",)),
        ({"inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bucket/in/", "s3InputFormat": "CSV"}}},
         ("s3InputFormat", "enum")),
        ({"inputDataConfig": {}}, ("inputDataConfig", "exactly one of [s3InputDataConfig]")),
        ({"inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bucket/in/"}, "other": {}}}, None),
        ({"inputDataConfig": {"s3InputDataConfig": {}}}, ("inputDataConfig.s3InputDataConfig.s3Uri", "not be null")),
        ({"inputDataConfig": "s3://bucket/in/"}, ("inputDataConfig", "JSON object")),
        ({"outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out/", "s3BucketOwner": "12"}}}, ("s3BucketOwner",)),
        ({"outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out/", "s3EncryptionKeyId": "key!"}}},
         ("s3EncryptionKeyId",)),
        ({"vpcConfig": {"subnetIds": [], "securityGroupIds": ["sg-1"]}}, ("vpcConfig.subnetIds", "greater than or equal to 1")),
        ({"vpcConfig": {"subnetIds": ["s"], "securityGroupIds": ["a"] * 6}},
         ("vpcConfig.securityGroupIds", "less than or equal to 5")),
        ({"vpcConfig": {"subnetIds": ["bad id"], "securityGroupIds": ["sg"]}}, ("vpcConfig.subnetIds.1.member",)),
        ({"tags": [{"key": "k"}]}, ("tags.1.member.value", "not be null")),
        ({"tags": [{"key": "k" * 129, "value": "v"}]}, ("tags.1.member.key", "128")),
        ({"jobName": None, "roleArn": None}, ("2 validation errors detected", "jobName", "roleArn")),
    ],
)
def test_create_violations(server: Any, change: dict[str, Any], fragments: tuple[str, ...] | None) -> None:
    body = {**job_request(), **change}
    body = {key: value for key, value in body.items() if value is not None}
    response = create(server, body)
    if fragments is None:  # an unknown extra union member is ignored, as AWS ignores unknown members
        assert response.status == 200, response.body
        return
    assert_validation(response, *fragments)


def test_malformed_json(server: Any) -> None:
    assert_validation(create(server, b'{"jobName": '), "not valid JSON")
    assert_validation(create(server, b"[1, 2]"), "JSON object")
    assert_validation(create(server, b"\xff\xfe"), "not valid JSON")


def test_wrong_content_type(server: Any) -> None:
    body = json.dumps(job_request()).encode()
    assert_validation(create(server, body, {"Content-Type": "text/plain"}), "Content-Type")
    assert_validation(create(server, body, {"Content-Type": "application/xml"}), "Content-Type")


def test_oversized_body(server: Any) -> None:
    body = json.dumps({**job_request(), "padding": "x" * (2 * 1024 * 1024)}).encode()
    assert_validation(create(server, body), "at most")


def test_bad_query_values(server: Any) -> None:
    for query, field in (("maxResults=ten", "maxResults"), ("maxResults=0", "maxResults"),
                         ("submitTimeAfter=yesterday", "submitTimeAfter"), ("statusEquals=done", "statusEquals")):
        assert_validation(signed(server.url, "GET", f"/model-invocation-jobs?{query}"), field)


def test_bad_job_identifier(server: Any) -> None:
    assert_validation(signed(server.url, "GET", "/model-invocation-job/ABCDEFGHIJ12"), "jobIdentifier")
    assert_validation(signed(server.url, "POST", "/model-invocation-job/short/stop"), "jobIdentifier")


def test_unknown_route_and_method_are_json_errors(server: Any) -> None:
    for method, path in (("GET", "/nope"), ("DELETE", "/model-invocation-job/abcdefghij12"), ("GET", "/")):
        response = signed(server.url, method, path)
        assert response.status == 404
        assert response.error_type == "UnknownOperationException"
        assert "message" in response.json()


def test_unsigned_request_is_refused(server: Any) -> None:
    response = signed(server.url, "GET", "/model-invocation-jobs", sign=False)
    assert response.status == 403
    assert response.error_type == "MissingAuthenticationTokenException"
    garbled = signed(server.url, "GET", "/model-invocation-jobs", headers={"Authorization": "Basic abc"}, sign=False)
    assert garbled.status == 403


def test_stop_sends_empty_body(server: Any) -> None:
    arn = json.loads(create(server, job_request()).body)["jobArn"]
    response = signed(server.url, "POST", f"/model-invocation-job/{arn.rsplit('/', 1)[1]}/stop")
    assert response.status == 200 and response.body == b""
