"""The real AWS CLI v1 (PyPI ``awscli``) against a live server: output formats, paging, errors."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.clients import ROLE, aws, bedrock

CREATE = [
    "create-model-invocation-job",
    "--role-arn", ROLE,
    "--model-id", "anthropic.claude-3-haiku-20240307-v1:0",
    "--input-data-config", "s3InputDataConfig={s3Uri=s3://bucket/in/}",
    "--output-data-config", "s3OutputDataConfig={s3Uri=s3://bucket/out/}",
]


@pytest.fixture(scope="module")
def cli_account(server: Any) -> dict[str, Any]:
    account = str(time.time_ns() + 7)[-12:]
    arns = []
    for index in range(3):
        done = aws(server.url, *CREATE, "--job-name", f"cli-{index}", "--tags", "key=team,value=ml", account=account)
        assert done.returncode == 0, done.stderr
        arns.append(json.loads(done.stdout)["jobArn"])
    return {"account": account, "arns": arns, "url": server.url}


def run(ctx: dict[str, Any], *args: str) -> Any:
    return aws(ctx["url"], *args, account=ctx["account"])


def test_get_in_three_formats(cli_account: dict[str, Any]) -> None:
    arn = cli_account["arns"][0]
    as_json = run(cli_account, "get-model-invocation-job", "--job-identifier", arn)
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert list(document)[:3] == ["jobArn", "jobName", "modelId"]
    assert document["status"] == "Submitted"
    as_text = run(cli_account, "get-model-invocation-job", "--job-identifier", arn, "--output", "text")
    lines = as_text.stdout.splitlines()
    assert lines[1] == "S3INPUTDATACONFIG\tJSONL\ts3://bucket/in/"
    assert lines[2] == "S3OUTPUTDATACONFIG\ts3://bucket/out/"
    assert arn in lines[0].split("\t")
    as_table = run(cli_account, "get-model-invocation-job", "--job-identifier", arn, "--output", "table")
    assert "GetModelInvocationJob" in as_table.stdout and "|  status                 |  Submitted" in as_table.stdout


def test_query_and_text(cli_account: dict[str, Any]) -> None:
    done = run(cli_account, "list-model-invocation-jobs", "--sort-order", "Ascending",
               "--query", "invocationJobSummaries[].[jobName,status]", "--output", "text")
    assert done.stdout.splitlines() == ["cli-0\tSubmitted", "cli-1\tSubmitted", "cli-2\tSubmitted"]


def test_automatic_pagination_max_items_and_page_size(cli_account: dict[str, Any]) -> None:
    full = json.loads(run(cli_account, "list-model-invocation-jobs", "--page-size", "1").stdout)
    assert [job["jobArn"] for job in full["invocationJobSummaries"]] == cli_account["arns"][::-1]
    assert "NextToken" not in full
    first = json.loads(run(cli_account, "list-model-invocation-jobs", "--max-items", "2", "--page-size", "1").stdout)
    assert len(first["invocationJobSummaries"]) == 2 and "NextToken" in first
    rest = json.loads(run(cli_account, "list-model-invocation-jobs", "--max-items", "2", "--page-size", "1",
                          "--starting-token", first["NextToken"]).stdout)
    summaries = first["invocationJobSummaries"] + rest["invocationJobSummaries"]
    assert [job["jobArn"] for job in summaries] == cli_account["arns"][::-1]


def test_no_paginate_makes_one_call(cli_account: dict[str, Any]) -> None:
    done = run(cli_account, "list-model-invocation-jobs", "--no-paginate", "--max-results", "1")
    page = json.loads(done.stdout)
    assert len(page["invocationJobSummaries"]) == 1 and "nextToken" in page


def test_tags_and_stop_print_nothing(cli_account: dict[str, Any]) -> None:
    arn = cli_account["arns"][2]
    tags = run(cli_account, "list-tags-for-resource", "--resource-arn", arn, "--output", "text")
    assert tags.stdout == "TAGS\tteam\tml\n"
    for args in (("tag-resource", "--resource-arn", arn, "--tags", "key=env,value=dev"),
                 ("untag-resource", "--resource-arn", arn, "--tag-keys", "team")):
        done = run(cli_account, *args)
        assert (done.returncode, done.stdout) == (0, "")
    assert run(cli_account, "list-tags-for-resource", "--resource-arn", arn, "--output", "text").stdout == "TAGS\tenv\tdev\n"


def test_errors_and_exit_codes(cli_account: dict[str, Any]) -> None:
    missing = run(cli_account, "get-model-invocation-job", "--job-identifier", "zzzzzzzzzzzz")
    assert missing.returncode == 255 and missing.stdout == ""
    assert "An error occurred (ResourceNotFoundException) when calling the GetModelInvocationJob operation" in missing.stderr
    bad_name = run(cli_account, *CREATE, "--job-name", "bad_name")
    assert bad_name.returncode == 255 and "(ValidationException)" in bad_name.stderr and "jobName" in bad_name.stderr
    bad_timeout = run(cli_account, *CREATE, "--job-name", "t1", "--timeout-duration-in-hours", "500")
    assert bad_timeout.returncode == 255 and "timeoutDurationInHours" in bad_timeout.stderr
    usage = run(cli_account, "get-model-invocation-job")
    assert usage.returncode == 2 and "--job-identifier" in usage.stderr


def test_stop_of_ended_job_is_conflict(cli_account: dict[str, Any]) -> None:
    arn = cli_account["arns"][1]
    assert run(cli_account, "stop-model-invocation-job", "--job-identifier", arn).returncode == 0
    again = run(cli_account, "stop-model-invocation-job", "--job-identifier", arn)
    assert again.returncode == 255 and "(ConflictException)" in again.stderr


def test_cli_sees_what_boto3_created(cli_account: dict[str, Any]) -> None:
    client = bedrock(cli_account["url"], account=cli_account["account"])
    job = client.list_model_invocation_jobs(statusEquals="Submitted", sortOrder="Ascending")["invocationJobSummaries"][0]
    done = run(cli_account, "get-model-invocation-job", "--job-identifier", job["jobArn"].rsplit("/", 1)[1],
               "--query", "jobName", "--output", "text")
    assert done.stdout.strip() == job["jobName"]
