"""Jobs run for real against the local-directory buckets: outputs, manifest, every record once."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.jobs import claude_input, create_job, read_output_lines, records, wait_for, write_jsonl


def test_multi_file_prefix_with_bad_lines(engine: dict[str, Any]) -> None:
    buckets, client = engine["buckets"], engine["client"]
    good = records(30, "A")
    mixed: list[Any] = [*records(3, "B"), b"not json at all", b"\xff\xfe\x00 binary", {"modelInput": claude_input("no id")},
                        {"recordId": "B000001", "modelInput": claude_input("dup")},
                        {"recordId": "bad-schema",
                         "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": []}},
                        b"", {"recordId": "ECHO", "modelInput": claude_input("please ECHO_FAIL")}, [1, 2]]
    write_jsonl(buckets / "bucket/in/a.jsonl", good)
    write_jsonl(buckets / "bucket/in/sub/b.jsonl", mixed)
    write_jsonl(buckets / "bucket/in/empty.jsonl", [])
    (buckets / "bucket/in/notes.txt").write_text("ignored")
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/")
    job = wait_for(client, arn)
    job_id = arn.rsplit("/", 1)[1]
    assert job["status"] == "Completed", job.get("message")
    out = buckets / "bucket/out" / job_id
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.jsonl.out", "empty.jsonl.out", "manifest.json.out", "sub/b.jsonl.out"]
    a = read_output_lines(out / "a.jsonl.out")
    assert [line["recordId"] for line in a] == [row["recordId"] for row in good]
    assert all(line["modelOutput"]["type"] == "message" for line in a)
    b = read_output_lines(out / "sub/b.jsonl.out")
    assert len(b) == 10  # the blank line is not a record
    assert [("modelOutput" in line) for line in b] == [True, True, True, False, False, True, False, False, False, False]
    errors = {line["recordId"]: line["error"] for line in b if "error" in line}
    assert "duplicate recordId B000001" in errors["B000001"]["errorMessage"]
    assert errors["bad-schema"]["errorCode"] == 400 and "messages" in errors["bad-schema"]["errorMessage"]
    assert errors["ECHO"]["errorCode"] == 500
    given_ids = ("B000000", "B000001", "B000002", "bad-schema", "ECHO")
    generated = [line["recordId"] for line in b if line["recordId"] not in given_ids]
    assert all(len(rid) == 11 and rid.isalnum() and rid.isupper() for rid in generated)
    assert (out / "empty.jsonl.out").read_bytes() == b""
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert manifest["totalRecordCount"] == 40 and manifest["processedRecordCount"] == 40
    assert manifest["successRecordCount"] == 34 and manifest["errorRecordCount"] == 6
    assert manifest["inputTokenCount"] > 0 and manifest["outputTokenCount"] > 0
    counts = (job["totalRecordCount"], job["processedRecordCount"], job["successRecordCount"], job["errorRecordCount"])
    assert counts == (40, 40, 34, 6)
    assert job["endTime"] >= job["submitTime"] and "message" not in job


def test_single_object_input(engine: dict[str, Any]) -> None:
    write_jsonl(engine["buckets"] / "bucket/one/x.jsonl", records(5))
    write_jsonl(engine["buckets"] / "bucket/one/y.jsonl", records(5, "Y"))
    arn = create_job(engine["client"], "s3://bucket/one/x.jsonl", "s3://bucket/out")
    assert wait_for(engine["client"], arn)["status"] == "Completed"
    out = engine["buckets"] / "bucket/out" / arn.rsplit("/", 1)[1]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json.out", "x.jsonl.out"]


def test_unusable_inputs_fail_in_validation_with_a_message(engine: dict[str, Any]) -> None:
    client, buckets = engine["client"], engine["buckets"]
    missing = wait_for(client, create_job(client, "s3://bucket/nothing-here/", "s3://bucket/out/"))
    assert missing["status"] == "Failed" and "No .jsonl files" in missing["message"]
    write_jsonl(buckets / "bucket/bad/x.jsonl", [b"{", {"recordId": "a", "modelInput": {"messages": "x"}}])
    bad = wait_for(client, create_job(client, "s3://bucket/bad/", "s3://bucket/out/"))
    assert bad["status"] == "Failed"
    assert "No valid record" in bad["message"] and "bad/x.jsonl" in bad["message"] and "line 1" in bad["message"]
    write_jsonl(buckets / "bucket/ok/x.jsonl", records(2))
    unknown = wait_for(client, create_job(client, "s3://bucket/ok/", "s3://bucket/out/", model="meta.llama3-1-8b-instruct-v1:0"))
    assert unknown["status"] == "Failed" and "meta.llama3-1-8b-instruct-v1:0" in unknown["message"]
    assert "endTime" in unknown


def test_converse_invocation_type(engine: dict[str, Any]) -> None:
    rows = [{"recordId": "C1", "modelInput": {"messages": [{"role": "user", "content": [{"text": "hi there"}]}],
                                               "inferenceConfig": {"maxTokens": 10}}}]
    write_jsonl(engine["buckets"] / "bucket/conv/x.jsonl", rows)
    arn = create_job(engine["client"], "s3://bucket/conv/", "s3://bucket/out/", modelInvocationType="Converse")
    assert wait_for(engine["client"], arn)["status"] == "Completed"
    line = read_output_lines(engine["buckets"] / "bucket/out" / arn.rsplit("/", 1)[1] / "x.jsonl.out")[0]
    assert line["modelOutput"]["output"]["message"]["content"][0]["text"] == "echo: hi there"
    assert line["modelOutput"]["stopReason"] == "end_turn"


def test_an_input_that_shrinks_while_the_job_runs_fails_it(engine: dict[str, Any]) -> None:
    client, buckets = engine["client"], engine["buckets"]
    rows = [{"recordId": f"P{i:04d}", "modelInput": claude_input("padding " * 500 + str(i))} for i in range(300)]
    write_jsonl(buckets / "bkt/shrink/x.jsonl", rows)  # larger than one read, so the change is seen
    arn = create_job(client, "s3://bkt/shrink/", "s3://bkt/shrink-out/", model="slow.model-v1")
    while client.get_model_invocation_job(jobIdentifier=arn).get("processedRecordCount", 0) < 20:
        time.sleep(0.05)
    write_jsonl(buckets / "bkt/shrink/x.jsonl", rows[:150])  # replaced in place, as a careless upload does
    job = wait_for(client, arn, timeout=60)
    assert job["status"] == "Failed", job
    assert "changed while the job ran: it held 300 records when validated" in job["message"], job["message"]
