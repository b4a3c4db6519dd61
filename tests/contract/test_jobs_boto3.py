"""Create, Get, Stop and idempotency through boto3 against a live server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import job_request, unique_name
from tests.support.clients import ACCOUNT, OTHER_ACCOUNT, REGION, bedrock

GET_MEMBERS = [
    "jobArn", "jobName", "modelId", "clientRequestToken", "roleArn", "status", "submitTime",
    "lastModifiedTime", "inputDataConfig", "outputDataConfig", "vpcConfig", "timeoutDurationInHours",
    "jobExpirationTime", "modelInvocationType", "totalRecordCount", "processedRecordCount",
    "successRecordCount", "errorRecordCount",
]


def error_of(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_create_then_get_by_arn_and_by_id_returns_every_member(client: Any) -> None:
    request = job_request(
        vpcConfig={"subnetIds": ["subnet-1", "subnet-2"], "securityGroupIds": ["sg-1"]},
        timeoutDurationInHours=48,
        modelInvocationType="Converse",
        clientRequestToken="token-1-" + unique_name(),
    )
    request["inputDataConfig"]["s3InputDataConfig"]["s3BucketOwner"] = ACCOUNT
    request["outputDataConfig"]["s3OutputDataConfig"]["s3EncryptionKeyId"] = "alias/my-key"
    arn = client.create_model_invocation_job(**request)["jobArn"]
    job_id = arn.rsplit("/", 1)[1]
    assert arn == f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{job_id}"
    assert len(job_id) == 12 and job_id.isalnum() and job_id == job_id.lower()

    by_arn = client.get_model_invocation_job(jobIdentifier=arn)
    by_id = client.get_model_invocation_job(jobIdentifier=job_id)
    by_arn.pop("ResponseMetadata"), by_id.pop("ResponseMetadata")
    assert by_arn == by_id
    assert [key for key in GET_MEMBERS if key not in by_arn] == []
    assert by_arn["status"] == "Submitted"
    assert by_arn["vpcConfig"] == request["vpcConfig"]
    assert by_arn["modelInvocationType"] == "Converse"
    assert by_arn["inputDataConfig"]["s3InputDataConfig"] == {"s3InputFormat": "JSONL", "s3Uri": "s3://bucket/in/",
                                                              "s3BucketOwner": ACCOUNT}
    assert by_arn["outputDataConfig"]["s3OutputDataConfig"]["s3EncryptionKeyId"] == "alias/my-key"
    assert by_arn["jobExpirationTime"] - by_arn["submitTime"] == timedelta(hours=48)
    assert by_arn["totalRecordCount"] == 0 and by_arn["errorRecordCount"] == 0


def test_omitted_timeout_defaults_to_168_hours(client: Any, make_job: Callable[..., str]) -> None:
    job = client.get_model_invocation_job(jobIdentifier=make_job())
    assert job["timeoutDurationInHours"] == 168
    assert job["jobExpirationTime"] - job["submitTime"] == timedelta(hours=168)
    assert job["modelInvocationType"] == "InvokeModel"


def test_same_client_token_same_parameters_returns_same_arn(client: Any) -> None:
    request = job_request(clientRequestToken="idem-" + unique_name())
    first = client.create_model_invocation_job(**request)["jobArn"]
    second = client.create_model_invocation_job(**request)["jobArn"]
    assert first == second


def test_same_client_token_different_parameters_is_rejected(client: Any) -> None:
    request = job_request(clientRequestToken="idem-" + unique_name())
    client.create_model_invocation_job(**request)
    changed = {**request, "timeoutDurationInHours": 24}
    code, status, message = error_of(lambda: client.create_model_invocation_job(**changed))
    assert (code, status) == ("ConflictException", 400)
    assert "clientRequestToken" in message


def test_duplicate_job_name_is_a_conflict(client: Any) -> None:
    name = unique_name()
    client.create_model_invocation_job(**job_request(name))
    code, status, message = error_of(lambda: client.create_model_invocation_job(**job_request(name)))
    assert (code, status) == ("ConflictException", 400)
    assert name in message


def test_unknown_job_is_resource_not_found(client: Any) -> None:
    code, status, _ = error_of(lambda: client.get_model_invocation_job(jobIdentifier="zzzzzzzzzzzz"))
    assert (code, status) == ("ResourceNotFoundException", 404)
    arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/zzzzzzzzzzzz"
    assert error_of(lambda: client.stop_model_invocation_job(jobIdentifier=arn))[:2] == ("ResourceNotFoundException", 404)


def test_stop_submitted_job_then_stop_again_is_a_conflict(client: Any, make_job: Callable[..., str]) -> None:
    arn = make_job()
    response = client.stop_model_invocation_job(jobIdentifier=arn)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    job = client.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "Stopped" and "endTime" in job
    code, status, message = error_of(lambda: client.stop_model_invocation_job(jobIdentifier=arn))
    assert (code, status) == ("ConflictException", 400)
    assert "Stopped" in message


def test_jobs_of_one_account_are_invisible_to_another(server: Any, make_job: Callable[..., str]) -> None:
    arn = make_job()
    other = bedrock(server.url, account=OTHER_ACCOUNT)
    assert error_of(lambda: other.get_model_invocation_job(jobIdentifier=arn))[:2] == ("ResourceNotFoundException", 404)
    job_id = arn.rsplit("/", 1)[1]
    assert error_of(lambda: other.get_model_invocation_job(jobIdentifier=job_id))[0] == "ResourceNotFoundException"
    assert error_of(lambda: other.stop_model_invocation_job(jobIdentifier=job_id))[0] == "ResourceNotFoundException"
    assert error_of(lambda: other.list_tags_for_resource(resourceARN=arn))[0] == "ResourceNotFoundException"
    listed = [job["jobArn"] for job in other.list_model_invocation_jobs(maxResults=1000)["invocationJobSummaries"]]
    assert arn not in listed


def test_non_numeric_access_key_maps_to_default_account(server: Any) -> None:
    client = bedrock(server.url, account="AKIDEXAMPLE")
    arn = client.create_model_invocation_job(**job_request())["jobArn"]
    assert ":000000000000:model-invocation-job/" in arn


def test_region_comes_from_the_credential_scope(server: Any) -> None:
    west = bedrock(server.url, region="eu-west-1")
    arn = west.create_model_invocation_job(**job_request())["jobArn"]
    assert arn.startswith("arn:aws:bedrock:eu-west-1:")
    east = bedrock(server.url, region="us-east-1")
    assert error_of(lambda: east.get_model_invocation_job(jobIdentifier=arn))[0] == "ResourceNotFoundException"


def test_every_response_has_a_request_id(client: Any, make_job: Callable[..., str]) -> None:
    meta = client.get_model_invocation_job(jobIdentifier=make_job())["ResponseMetadata"]
    assert len(meta["RequestId"]) == 36
    with pytest.raises(ClientError) as caught:
        client.get_model_invocation_job(jobIdentifier="zzzzzzzzzzzz")
    assert len(caught.value.response["ResponseMetadata"]["RequestId"]) == 36
