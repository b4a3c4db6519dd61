"""``batchrock retry-failed``: a new job over exactly the failed records of a real job, which runs
to completion; none when nothing failed; and where the failed records are written."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from batchrock.followup.retry import default_location
from tests.conftest import ECHO_CATALOG
from tests.followup.conftest import Ran, run_job, server_flags
from tests.support.jobs import claude_input, read_output_lines, records, wait_for
from tests.support.server import ServerProcess

BAD_SCHEMA = {"recordId": "no-messages", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                                                       "messages": []}}
FIRST: list[Any] = [*records(3, "A"), {"recordId": "FAIL-1", "modelInput": claude_input("ECHO_FAIL one")}]
SECOND: list[Any] = [*records(2, "B"), {"recordId": "B000000", "modelInput": claude_input("dup, fine alone")},
                     b"{not json", {"modelInput": claude_input("ECHO_FAIL no id")}, BAD_SCHEMA,
                     {"recordId": "FAIL-2", "modelInput": claude_input("ECHO_FAIL two")}]


def input_lines(echo_server: ServerProcess, uri: str) -> list[dict[str, Any]]:
    path = echo_server.data_dir / "buckets" / uri.removeprefix("s3://")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_retry_job_runs_exactly_the_failed_records(echo_server: ServerProcess, echo_client: Any,
                                                     batchrock: Callable[..., Ran]) -> None:
    arn = run_job(echo_server, echo_client, "failing", {"a.jsonl": FIRST, "b.jsonl": SECOND}, timeoutDurationInHours=30,
                  tags=[{"key": "team", "value": "search"}])
    original = wait_for(echo_client, arn)
    assert (original["status"], original["errorRecordCount"]) == ("Completed", 6)
    job_id = arn.rsplit("/", 1)[1]
    ran = batchrock("retry-failed", arn, "--catalog", ECHO_CATALOG, *server_flags(echo_server))
    assert ran.code == 0, ran.err
    assert f"Wrote 4 failed records of job {job_id} to s3://bucket/failing/retry/{job_id}/failed.jsonl." in ran.err
    assert "Left out 2 failed records that would fail the same way (the first: " in ran.err
    retry_arn = ran.out.strip()
    retry = wait_for(echo_client, retry_arn)
    uri = f"s3://bucket/failing/retry/{job_id}/failed.jsonl"
    assert retry["inputDataConfig"]["s3InputDataConfig"]["s3Uri"] == uri
    outputs_b = read_output_lines(echo_server.data_dir / f"buckets/bucket/failing/out/{job_id}/b.jsonl.out")
    generated = next(line["recordId"] for line in outputs_b if line["modelInput"] == claude_input("ECHO_FAIL no id"))
    rows = input_lines(echo_server, uri)
    assert rows == [{"recordId": "FAIL-1", "modelInput": claude_input("ECHO_FAIL one")},
                    {"recordId": "B000000", "modelInput": claude_input("dup, fine alone")},
                    {"recordId": generated, "modelInput": claude_input("ECHO_FAIL no id")},
                    {"recordId": "FAIL-2", "modelInput": claude_input("ECHO_FAIL two")}]
    assert retry["status"] == "Completed" and (retry["totalRecordCount"], retry["successRecordCount"]) == (4, 1)
    assert retry["jobName"].startswith(original["jobName"] + "-retry-")
    for member in ("modelId", "roleArn", "outputDataConfig", "timeoutDurationInHours", "modelInvocationType"):
        assert retry[member] == original[member]
    assert echo_client.list_tags_for_resource(resourceARN=retry_arn)["tags"] == [{"key": "team", "value": "search"}]
    outputs = read_output_lines(echo_server.data_dir / f"buckets/bucket/failing/out/{retry_arn.rsplit('/', 1)[1]}"
                                                       "/failed.jsonl.out")
    assert [line["recordId"] for line in outputs] == [row["recordId"] for row in rows]
    assert [("error" in line) for line in outputs] == [True, False, True, True]


def test_no_failed_records_no_job(echo_server: ServerProcess, echo_client: Any, batchrock: Callable[..., Ran]) -> None:
    arn = run_job(echo_server, echo_client, "clean", {"a.jsonl": records(3)})
    assert wait_for(echo_client, arn)["status"] == "Completed"
    before = len(echo_client.list_model_invocation_jobs()["invocationJobSummaries"])
    ran = batchrock("retry-failed", arn, *server_flags(echo_server))
    assert ran.code == 1 and ran.out == "" and f"job {arn.rsplit('/', 1)[1]} has no failed records" in ran.err
    assert len(echo_client.list_model_invocation_jobs()["invocationJobSummaries"]) == before
    assert not (echo_server.data_dir / "buckets/bucket/clean/retry").exists()
    doomed = run_job(echo_server, echo_client, "doomed", {"a.jsonl": [*records(2), BAD_SCHEMA]})
    assert wait_for(echo_client, doomed)["status"] == "Completed"
    again = batchrock("retry-failed", doomed, *server_flags(echo_server))
    assert again.code == 1 and "has 1 failed record, and each would fail the same way again" in again.err
    assert "(the first: no-messages: modelInput: messages must be a non-empty list)" in again.err
    assert len(echo_client.list_model_invocation_jobs()["invocationJobSummaries"]) == before + 1


def test_the_input_uri_and_job_name_given(echo_server: ServerProcess, echo_client: Any,
                                          batchrock: Callable[..., Ran]) -> None:
    arn = run_job(echo_server, echo_client, "named", {"a.jsonl": FIRST})
    assert wait_for(echo_client, arn)["status"] == "Completed"
    flags = ("--input-uri", "s3://bucket/mine/", "--job-name", "my-own-retry", *server_flags(echo_server))
    ran = batchrock("retry-failed", arn, *flags)
    assert ran.code == 0, ran.err
    job = echo_client.get_model_invocation_job(jobIdentifier=ran.out.strip())
    assert job["jobName"] == "my-own-retry"
    assert job["inputDataConfig"]["s3InputDataConfig"]["s3Uri"] == "s3://bucket/mine/failed.jsonl"
    assert [row["recordId"] for row in input_lines(echo_server, "s3://bucket/mine/failed.jsonl")] == ["FAIL-1"]
    again = batchrock("retry-failed", arn, *flags)
    assert again.code == 1 and "s3://bucket/mine/failed.jsonl already exists" in again.err


@pytest.mark.parametrize(("input_uri", "expected"), [
    ("s3://b/in/", "s3://b/retry/J/failed.jsonl"),
    ("s3://b/in", "s3://b/retry/J/failed.jsonl"),
    ("s3://b/in/x.jsonl", "s3://b/retry/J/failed.jsonl"),
    ("s3://b/", "s3://b/retry/J/failed.jsonl"),
    ("s3://b/x.jsonl", "s3://b/retry/J/failed.jsonl"),
    ("s3://b/data/in/", "s3://b/data/retry/J/failed.jsonl"),
    ("s3://b/data/retry/OLD/failed.jsonl", "s3://b/data/retry/J/failed.jsonl"),
    ("s3://b/retry/in/", "s3://b/retry/retry/J/failed.jsonl"),
    ("s3://b/retry/OLD/other.jsonl", "s3://b/retry/retry/J/failed.jsonl"),
])
def test_default_retry_location(input_uri: str, expected: str) -> None:
    assert str(default_location(input_uri, "J")) == expected
