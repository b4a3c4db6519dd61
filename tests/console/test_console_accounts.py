"""With a credentials file: the console asks for a key once, and an account sees only its own
jobs, refused another's exactly as the API refuses it."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from playwright.sync_api import expect

from tests.console.conftest import KEY_A, KEY_B, ROLE_A, ROLE_B, SECRET_A, SECRET_B
from tests.support.server import ServerProcess


def client(server: ServerProcess, key: str, secret: str) -> Any:
    return boto3.client("bedrock", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))


def create(api: Any, name: str, role: str, team: str) -> str:
    return str(api.create_model_invocation_job(
        jobName=name, roleArn=role, modelId="anthropic.claude-3-haiku-20240307-v1:0",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://inputs/{team}/"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://outputs/{team}/"}})["jobArn"]).rsplit("/", 1)[1]


def sign_in(page: Any, server: ServerProcess, key: str, secret: str) -> None:
    page.goto(f"{server.url}/console/")
    page.wait_for_url(re.compile(r"/console/login\?next="))
    page.fill("input[name=access_key_id]", key)
    page.fill("input[name=secret_access_key]", secret)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/console/")


def test_an_account_is_refused_another_accounts_job(secure_server: ServerProcess, page: Any) -> None:
    api_a, api_b = client(secure_server, KEY_A, SECRET_A), client(secure_server, KEY_B, SECRET_B)
    mine = create(api_a, "job-of-account-a", ROLE_A, "team-a")
    theirs = create(api_b, "job-of-account-b", ROLE_B, "team-b")
    sign_in(page, secure_server, KEY_A, SECRET_A)
    expect(page.locator(f'tr[data-job="{mine}"]')).to_be_visible()
    expect(page.locator(f'tr[data-job="{theirs}"]')).to_have_count(0)

    response = page.goto(f"{secure_server.url}/console/jobs/{theirs}")
    with pytest.raises(ClientError) as refused:
        api_a.get_model_invocation_job(jobIdentifier=theirs)
    error = refused.value.response
    assert response.status == error["ResponseMetadata"]["HTTPStatusCode"] == 404
    expect(page.locator("h1")).to_contain_text(error["Error"]["Code"])
    assert page.locator("#problem-message").inner_text() == error["Error"]["Message"]
    assert page.request.get(f"{secure_server.url}/console/api/jobs/{theirs}").status == 404
    assert page.request.get(f"{secure_server.url}/console/jobs/{theirs}/results").status == 404

    page.goto(f"{secure_server.url}/console/jobs/{mine}")
    expect(page.locator('[data-field="jobName"]')).to_have_text("job-of-account-a")


def test_a_wrong_secret_does_not_sign_in(secure_server: ServerProcess, page: Any) -> None:
    page.goto(f"{secure_server.url}/console/login")
    page.fill("input[name=access_key_id]", KEY_A)
    page.fill("input[name=secret_access_key]", SECRET_B)
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("not right")
    assert page.request.get(f"{secure_server.url}/console/api/jobs").status == 401
