"""ListModelInvocationJobs filters, sorting and pagination; TagResource and friends."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import job_request
from tests.contract.test_jobs_boto3 import error_of
from tests.support.clients import bedrock


@pytest.fixture(scope="module")
def listing(server: Any) -> dict[str, Any]:
    """A fresh account with five jobs, one stopped, submitted a little apart."""
    account = str(time.time_ns())[-12:]
    client = bedrock(server.url, account=account)
    arns = []
    for index in range(5):
        name = f"batch-{index}-alpha" if index % 2 else f"batch-{index}"
        arns.append(client.create_model_invocation_job(**job_request(name))["jobArn"])
        time.sleep(0.01)
    client.stop_model_invocation_job(jobIdentifier=arns[1])
    return {"client": client, "arns": arns}


def names(summaries: list[dict[str, Any]]) -> list[str]:
    return [job["jobName"] for job in summaries]


def test_default_order_is_newest_first(listing: dict[str, Any]) -> None:
    summaries = listing["client"].list_model_invocation_jobs()["invocationJobSummaries"]
    assert [job["jobArn"] for job in summaries] == listing["arns"][::-1]
    ascending = listing["client"].list_model_invocation_jobs(sortBy="CreationTime", sortOrder="Ascending")
    assert [job["jobArn"] for job in ascending["invocationJobSummaries"]] == listing["arns"]


def test_filters(listing: dict[str, Any]) -> None:
    client = listing["client"]
    assert names(client.list_model_invocation_jobs(statusEquals="Stopped")["invocationJobSummaries"]) == ["batch-1-alpha"]
    alphas = client.list_model_invocation_jobs(nameContains="alpha", sortOrder="Ascending")["invocationJobSummaries"]
    assert names(alphas) == ["batch-1-alpha", "batch-3-alpha"]
    assert client.list_model_invocation_jobs(nameContains="ALPHA")["invocationJobSummaries"] == []
    third = client.get_model_invocation_job(jobIdentifier=listing["arns"][2])["submitTime"]
    after = client.list_model_invocation_jobs(submitTimeAfter=third, sortOrder="Ascending")["invocationJobSummaries"]
    assert names(after) == ["batch-3-alpha", "batch-4"]
    before = client.list_model_invocation_jobs(submitTimeBefore=third, sortOrder="Ascending")["invocationJobSummaries"]
    assert names(before) == ["batch-0", "batch-1-alpha"]
    window = client.list_model_invocation_jobs(submitTimeAfter=third - timedelta(milliseconds=1),
                                              submitTimeBefore=third + timedelta(milliseconds=1))
    assert names(window["invocationJobSummaries"]) == ["batch-2"]


def test_pagination_with_next_token(listing: dict[str, Any]) -> None:
    client, seen, token = listing["client"], [], None
    while True:
        kwargs = {"maxResults": 2, **({"nextToken": token} if token else {})}
        page = client.list_model_invocation_jobs(**kwargs)
        assert len(page["invocationJobSummaries"]) <= 2
        seen += [job["jobArn"] for job in page["invocationJobSummaries"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert seen == listing["arns"][::-1]


def test_paginator_walks_every_page(listing: dict[str, Any]) -> None:
    pages = listing["client"].get_paginator("list_model_invocation_jobs").paginate(PaginationConfig={"PageSize": 2})
    result = pages.build_full_result()
    assert [job["jobArn"] for job in result["invocationJobSummaries"]] == listing["arns"][::-1]


def test_tampered_or_foreign_tokens_are_rejected(listing: dict[str, Any], server: Any) -> None:
    client = listing["client"]
    token = client.list_model_invocation_jobs(maxResults=1)["nextToken"]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    for bad in (flipped, "x" + token, "garbage", token.split(".")[0]):
        code, status, message = error_of(lambda bad=bad: client.list_model_invocation_jobs(maxResults=1, nextToken=bad))
        assert (code, status) == ("ValidationException", 400)
        assert "nextToken" in message
    code, _, _ = error_of(lambda: client.list_model_invocation_jobs(maxResults=1, nextToken=token, statusEquals="Stopped"))
    assert code == "ValidationException"
    other = bedrock(server.url, account="999999999999")
    assert error_of(lambda: other.list_model_invocation_jobs(maxResults=1, nextToken=token))[0] == "ValidationException"


def test_max_results_bounds(listing: dict[str, Any]) -> None:
    client = listing["client"]
    assert len(client.list_model_invocation_jobs(maxResults=1000)["invocationJobSummaries"]) == 5
    code, status, message = error_of(lambda: client.list_model_invocation_jobs(maxResults=1001))
    assert (code, status) == ("ValidationException", 400) and "maxResults" in message


def test_invalid_list_enums_are_validation_errors(listing: dict[str, Any]) -> None:
    client = listing["client"]
    for kwargs in ({"statusEquals": "Done"}, {"sortOrder": "Sideways"}, {"sortBy": "Name"}, {"nameContains": "bad name!"}):
        code, status, message = error_of(lambda kwargs=kwargs: client.list_model_invocation_jobs(**kwargs))
        assert (code, status) == ("ValidationException", 400)
        assert next(iter(kwargs)) in message


def test_tags_from_create_then_tag_untag(client: Any) -> None:
    arn = client.create_model_invocation_job(**job_request(tags=[{"key": "team", "value": "ml"}]))["jobArn"]
    assert client.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "ml"}]
    client.tag_resource(resourceARN=arn, tags=[{"key": "env", "value": "dev"}, {"key": "team", "value": "ai"}])
    tags = client.list_tags_for_resource(resourceARN=arn)["tags"]
    assert tags == [{"key": "env", "value": "dev"}, {"key": "team", "value": "ai"}]
    client.untag_resource(resourceARN=arn, tagKeys=["team", "missing"])
    assert client.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "env", "value": "dev"}]


def test_more_than_fifty_tags_is_too_many_tags(client: Any) -> None:
    arn = client.create_model_invocation_job(**job_request(tags=[{"key": f"k{i}", "value": "v"} for i in range(40)]))["jobArn"]
    eleven_more = [{"key": f"n{i}", "value": "v"} for i in range(11)]
    code, status, _ = error_of(lambda: client.tag_resource(resourceARN=arn, tags=eleven_more))
    assert (code, status) == ("TooManyTagsException", 400)
    client.tag_resource(resourceARN=arn, tags=[{"key": f"n{i}", "value": "v"} for i in range(10)])
    assert len(client.list_tags_for_resource(resourceARN=arn)["tags"]) == 50
    too_many = job_request(tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
    assert error_of(lambda: client.create_model_invocation_job(**too_many))[0] == "TooManyTagsException"


def test_tagging_other_resources_and_reserved_keys(client: Any) -> None:
    arn = client.create_model_invocation_job(**job_request())["jobArn"]
    code, status, _ = error_of(lambda: client.tag_resource(resourceARN=arn, tags=[{"key": "aws:owner", "value": "x"}]))
    assert (code, status) == ("ValidationException", 400)
    guardrail = "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"
    assert error_of(lambda: client.list_tags_for_resource(resourceARN=guardrail))[:2] == ("ResourceNotFoundException", 404)
    code, status, _ = error_of(lambda: client.list_tags_for_resource(resourceARN="arn:aws:s3:::not a bedrock arn!"))
    assert (code, status) == ("ValidationException", 400)



def test_a_tag_key_repeated_in_one_request_is_a_validation_error(client: Any) -> None:
    twice = [{"key": "team", "value": "ml"}, {"key": "team", "value": "ai"}]
    code, status, message = error_of(lambda: client.create_model_invocation_job(**job_request(tags=twice)))
    assert (code, status) == ("ValidationException", 400) and "repeated: team" in message
    arn = client.create_model_invocation_job(**job_request())["jobArn"]
    code, status, message = error_of(lambda: client.tag_resource(resourceARN=arn, tags=twice))
    assert (code, status) == ("ValidationException", 400) and "repeated: team" in message
