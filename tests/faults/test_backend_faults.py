"""Backend failures through a fault-injecting proxy in front of a real OpenAI-compatible server
(llama-cpp-python's server with the packaged model): 429/503 answers, hangs, malformed JSON, a
server that goes away and comes back, a record the backend always rejects, and the server
process killed mid-job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.formats.test_openai_backend import openai_server  # noqa: F401  (fixture)
from tests.support.catalogs import openai_catalog
from tests.support.clients import bedrock
from tests.support.fault_proxy import FaultProxy
from tests.support.jobs import claude_input, create_job, read_output_lines, wait_for, write_jsonl
from tests.support.openai_server import OpenAIServer
from tests.support.server import ServerProcess


@pytest.fixture
def proxied(openai_server: str, tmp_path: Path) -> Iterator[dict[str, Any]]:  # noqa: F811
    proxy = FaultProxy(openai_server).start()
    catalog = openai_catalog(tmp_path / "catalog.toml", proxy.url, "local.flaky", max_in_flight=2, timeout_seconds=2)
    server = ServerProcess(tmp_path / "data", extra_args=("--catalog", str(catalog), "--batch-size", "2")).start()
    yield {"proxy": proxy, "server": server, "client": bedrock(server.url)}
    server.stop()
    proxy.stop()


def run_job(ctx: dict[str, Any], texts: list[str], name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    server, client = ctx["server"], ctx["client"]
    rows = [{"recordId": f"{name}{i}", "modelInput": claude_input(text, max_tokens=4)} for i, text in enumerate(texts)]
    write_jsonl(server.data_dir / f"buckets/flaky/{name}/x.jsonl", rows)
    arn = create_job(client, f"s3://flaky/{name}/", f"s3://flaky/{name}-out/", model="local.flaky")
    job = wait_for(client, arn, timeout=240)
    lines = read_output_lines(server.data_dir / f"buckets/flaky/{name}-out" / arn.rsplit("/", 1)[1] / "x.jsonl.out")
    assert [line["recordId"] for line in lines] == [row["recordId"] for row in rows]
    return job, lines


@pytest.mark.parametrize("mode", ["429", "503", "malformed", "hang"])
def test_transient_errors_are_retried(proxied: dict[str, Any], mode: str) -> None:
    proxied["proxy"].set(mode, 2)
    job, lines = run_job(proxied, ["Hi", "Hello"], f"t{mode}")
    assert job["status"] == "Completed" and job["errorRecordCount"] == 0, lines


def test_a_backend_that_stays_down_pauses_the_job(proxied: dict[str, Any]) -> None:
    proxied["proxy"].set("503", 40)  # down for a while: longer than the per-record retries
    job, lines = run_job(proxied, ["Hi", "Hello", "Hey"], "down")
    assert job["status"] == "Completed" and job["errorRecordCount"] == 0
    assert all("modelOutput" in line for line in lines)


def test_a_record_the_backend_always_rejects_is_an_error_record(proxied: dict[str, Any]) -> None:
    job, lines = run_job(proxied, ["Hi", "please REJECT_ME", "Hello"], "reject")
    assert job["status"] == "Completed" and job["errorRecordCount"] == 1
    assert lines[1]["error"]["errorCode"] == 400 and "refused this prompt" in lines[1]["error"]["errorMessage"]



def test_a_record_the_backend_keeps_failing_becomes_an_error_record_without_pausing(proxied: dict[str, Any]) -> None:
    # alone in its batch (batch size 2), the failing record must not look like a backend outage:
    # the backend answers its health probe, so the record, not the backend, is the problem
    job, lines = run_job(proxied, ["Hi", "Hello", "please CRASH_ME"], "crash")
    assert job["status"] == "Completed" and job["errorRecordCount"] == 1
    assert lines[2]["error"]["errorCode"] == 500 and "backend answered 500" in lines[2]["error"]["errorMessage"]

def wait_for_progress(client: Any, arn: str, processed: int, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_model_invocation_job(jobIdentifier=arn)
        if (job.get("processedRecordCount", 0) >= processed
                or job["status"] not in ("Submitted", "Validating", "Scheduled", "InProgress")):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {arn} never processed {processed} records")


def test_a_backend_process_killed_mid_job_pauses_it_until_it_is_back(tmp_path: Path) -> None:
    """SIGKILL to the model server while records are in flight; the job waits, then finishes
    with every record answered once, in order, and no error records from the outage."""
    backend = OpenAIServer(tmp_path / "backend.log").start()
    catalog = openai_catalog(tmp_path / "catalog.toml", backend.url, "local.dying", max_in_flight=2, timeout_seconds=5)
    server = ServerProcess(tmp_path / "data", extra_args=("--catalog", str(catalog), "--batch-size", "2")).start()
    try:
        client = bedrock(server.url)
        rows = [{"recordId": f"k{i:03d}", "modelInput": claude_input(f"Count to {i}", max_tokens=4)} for i in range(40)]
        write_jsonl(server.data_dir / "buckets/dying/in/x.jsonl", rows)
        arn = create_job(client, "s3://dying/in/", "s3://dying/out/", model="local.dying")
        assert wait_for_progress(client, arn, 6)["status"] == "InProgress"
        backend.kill()
        time.sleep(6)
        paused = client.get_model_invocation_job(jobIdentifier=arn)
        assert paused["status"] == "InProgress" and paused.get("errorRecordCount", 0) == 0
        backend.start()
        job = wait_for(client, arn, timeout=240)
        assert job["status"] == "Completed" and job["errorRecordCount"] == 0, job.get("message")
        lines = read_output_lines(server.data_dir / "buckets/dying/out" / arn.rsplit("/", 1)[1] / "x.jsonl.out")
        assert [line["recordId"] for line in lines] == [row["recordId"] for row in rows]
        assert all("modelOutput" in line for line in lines)
        assert "backend unavailable" in server.log()
    finally:
        server.stop()
        backend.stop()
