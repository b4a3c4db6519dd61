"""``batchrock results`` against real jobs: input beside output, in input order, across files,
error records included, and records a stopped job never ran shown as notRun."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.followup.conftest import Ran, run_job, server_flags
from tests.support.jobs import claude_input, read_output_lines, records, wait_for, write_jsonl
from tests.support.server import ServerProcess

MIXED: list[Any] = [*records(3, "B"), b"not json at all", b"", {"modelInput": claude_input("no id")},
                    {"recordId": "B000001", "modelInput": claude_input("dup")},
                    {"recordId": "FAIL", "modelInput": claude_input("please ECHO_FAIL")}, *records(2, "C")]


def read_results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_results_join_every_record_in_input_order(echo_server: ServerProcess, echo_client: Any,
                                                  batchrock: Callable[..., Ran], tmp_path: Path) -> None:
    first = records(5, "A")
    arn = run_job(echo_server, echo_client, "join", {"a.jsonl": first, "sub/b.jsonl": MIXED})
    assert wait_for(echo_client, arn)["status"] == "Completed"
    ran = batchrock("results", arn, "--output", str(tmp_path / "results.jsonl"), *server_flags(echo_server))
    assert ran.code == 0, ran.err
    assert "14 records: 11 succeeded, 3 failed, 0 not run" in ran.err
    lines = read_results(tmp_path / "results.jsonl")
    out = echo_server.data_dir / "buckets/bucket/join/out" / arn.rsplit("/", 1)[1]
    written = read_output_lines(out / "a.jsonl.out") + read_output_lines(out / "sub/b.jsonl.out")
    assert [line["recordId"] for line in lines] == [line["recordId"] for line in written]
    assert [line["file"] for line in lines] == ["a.jsonl"] * 5 + ["sub/b.jsonl"] * 9
    for result, output in zip(lines, written, strict=True):
        assert result["modelInput"] == output["modelInput"]
        assert result.get("modelOutput") == output.get("modelOutput") and result.get("error") == output.get("error")
        assert result["status"] == ("failed" if "error" in output else "succeeded")
    assert [row["modelInput"] for row in first] == [line["modelInput"] for line in lines[:5]]
    failed = {line["recordId"]: line["error"]["errorCode"] for line in lines if line["status"] == "failed"}
    assert failed.pop("FAIL") == 500 and failed.pop("B000001") == 400
    assert list(failed.values()) == [400]  # the line that is not JSON, under the id the job generated for it
    assert lines[-1]["modelOutput"]["content"][0]["text"] == "echo: hello 1"


def test_records_a_stopped_job_never_ran_are_not_run(echo_server: ServerProcess, echo_client: Any,
                                                     batchrock: Callable[..., Ran]) -> None:
    files = {"a.jsonl": records(60, "A"), "b.jsonl": records(60, "B")}
    arn = run_job(echo_server, echo_client, "stopped", files, model="slow.model-v1")
    while echo_client.get_model_invocation_job(jobIdentifier=arn).get("processedRecordCount", 0) < 5:
        time.sleep(0.05)
    echo_client.stop_model_invocation_job(jobIdentifier=arn)
    assert wait_for(echo_client, arn)["status"] == "Stopped"
    ran = batchrock("results", arn.rsplit("/", 1)[1], *server_flags(echo_server))  # by id, to standard output
    assert ran.code == 0, ran.err
    lines = [json.loads(line) for line in ran.out.splitlines()]
    assert [line["recordId"] for line in lines] == [row["recordId"] for rows in files.values() for row in rows]
    statuses = [line["status"] for line in lines]
    done = statuses.count("succeeded")
    assert 5 <= done < 120 and statuses == ["succeeded"] * done + ["notRun"] * (120 - done)
    assert all("modelOutput" not in line and "error" not in line for line in lines[done:])
    assert lines[-1]["modelInput"] == claude_input("hello 59")
    assert f"120 records: {done} succeeded, 0 failed, {120 - done} not run" in ran.err


def test_an_input_changed_after_the_job_is_refused(echo_server: ServerProcess, echo_client: Any,
                                                   batchrock: Callable[..., Ran], tmp_path: Path) -> None:
    arn = run_job(echo_server, echo_client, "changed", {"a.jsonl": records(4)})
    assert wait_for(echo_client, arn)["status"] == "Completed"
    write_jsonl(echo_server.data_dir / "buckets/bucket/changed/in/a.jsonl", records(4, "Z"))
    ran = batchrock("results", arn, "--output", str(tmp_path / "r.jsonl"), *server_flags(echo_server))
    assert ran.code == 1 and "the input changed after the job ran" in ran.err and "'Z000000'" in ran.err
    assert not (tmp_path / "r.jsonl").exists()


def test_an_unknown_job_is_one_line_of_error(echo_server: ServerProcess, batchrock: Callable[..., Ran]) -> None:
    ran = batchrock("results", "abcdefghij12", *server_flags(echo_server))
    assert ran.code == 1 and ran.err.startswith("batchrock results: ResourceNotFoundException: ")
