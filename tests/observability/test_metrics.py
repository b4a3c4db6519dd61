"""/metrics of a real ``batchrock serve`` and of a ``batchrock worker --metrics-port``, after real jobs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ECHO_CATALOG
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, records, wait_for, write_jsonl
from tests.support.server import ServerProcess, end_process, free_port

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
SLOW = "slow.model-v1"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_serve_reports_jobs_records_tokens_and_backend_latency_by_model(
        start_server: Callable[..., ServerProcess]) -> None:
    server = start_server("--max-running-jobs", "1")
    buckets, client = server.data_dir / "buckets/bucket", bedrock(server.url)
    write_jsonl(buckets / "slow/a.jsonl", records(500, "S"))  # 10 s at least: it is stopped once seen running
    write_jsonl(buckets / "fast/a.jsonl", [*records(10), {"recordId": "F", "modelInput": claude_input("ECHO_FAIL")},
                                           b"not json"])
    slow = create_job(client, "s3://bucket/slow/", "s3://bucket/out/", model=SLOW)
    wait_for(client, slow, {"InProgress"})
    fast = create_job(client, "s3://bucket/fast/", "s3://bucket/out/")
    wait_for(client, fast, {"Scheduled"})  # one job runs at a time: it waits for the slow one
    time.sleep(0.05)
    waiting = scrape(f"{server.url}/metrics")
    assert value(waiting, "batchrock_jobs", status="Scheduled", model_id=CLAUDE) == 1
    assert value(waiting, "batchrock_jobs", status="InProgress", model_id=SLOW) == 1
    assert value(waiting, "batchrock_jobs_scheduled_oldest_age_seconds") > 0
    client.stop_model_invocation_job(jobIdentifier=slow)
    jobs = {arn: wait_for(client, arn) for arn in (slow, fast)}
    samples = scrape(f"{server.url}/metrics")
    for arn, model in ((slow, SLOW), (fast, CLAUDE)):
        job = jobs[arn]
        assert value(samples, "batchrock_jobs", status=job["status"], model_id=model) == 1
        assert value(samples, "batchrock_records_processed_total", model_id=model) == job["processedRecordCount"]
        assert value(samples, "batchrock_records_succeeded_total", model_id=model) == job["successRecordCount"]
        assert value(samples, "batchrock_records_failed_total", model_id=model) == job["errorRecordCount"]
    assert (jobs[slow]["status"], jobs[fast]["status"]) == ("Stopped", "Completed")
    assert (jobs[fast]["successRecordCount"], jobs[fast]["errorRecordCount"]) == (10, 2)
    slow_done = jobs[slow]["processedRecordCount"]
    assert 0 < slow_done < 500
    assert value(samples, "batchrock_input_tokens_total", model_id=SLOW) == 2 * slow_done  # a token per word: "hello N"
    assert value(samples, "batchrock_output_tokens_total", model_id=CLAUDE) == 3 * 10  # "echo: hello N"
    assert value(samples, "batchrock_jobs_scheduled_oldest_age_seconds") == 0
    echo = {"backend": "echo", "model": "echo"}
    # every answer the backend gave: those the job stopped before writing too, so at least the records written
    assert value(samples, "batchrock_backend_requests_total", **echo, outcome="ok") >= slow_done + 10
    assert value(samples, "batchrock_backend_requests_total", **echo, outcome="error") >= 1  # the failing one, and retries
    assert value(samples, "batchrock_backend_request_seconds_count", **echo) >= slow_done + 1  # slow: a record a call
    assert value(samples, "batchrock_backend_request_seconds_sum", **echo) >= slow_done * 0.02
    assert value(samples, "batchrock_backend_request_seconds_bucket", **echo, le="+Inf") == \
        value(samples, "batchrock_backend_request_seconds_count", **echo)
    assert ("batchrock_backend_requests_in_flight", frozenset(echo.items())) in samples
    assert value(samples, "batchrock_backend_requests_in_flight", **echo) == 0
    assert value(samples, "batchrock_backend_up", **echo) == 1
    assert value(samples, "batchrock_store_writable") == 1
    assert ("batchrock_store_write_failures_total", frozenset()) in samples
    assert value(samples, "batchrock_events_pending") == 6 + 5  # kept without a URL too, for one added later (Stopping)
    assert any(name == "process_cpu_seconds_total" for name, _ in samples)


@pytest.fixture
def worker_on(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(data_dir: Path, *flags: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "batchrock.cli.main", "worker", "--data-dir", str(data_dir),
                   "--catalog", ECHO_CATALOG, "--lease-seconds", "2", *flags]
        with open(tmp_path / "worker.log", "ab") as log:
            started.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        return started[-1]

    yield start
    for process in started:
        end_process(process)


def test_a_worker_serves_its_own_metrics(start_server: Callable[..., ServerProcess],
                                         worker_on: Callable[..., subprocess.Popen[bytes]], tmp_path: Path) -> None:
    port = free_port()
    worker_on(tmp_path / "data", "--metrics-port", str(port))  # it starts while the server does
    server = start_server("--no-worker")
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(7))
    client = bedrock(server.url)
    assert wait_for(client, create_job(client, "s3://bucket/in/", "s3://bucket/out/"))["status"] == "Completed"
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert value(samples, "batchrock_jobs", status="Completed", model_id=CLAUDE) == 1
    assert value(samples, "batchrock_records_succeeded_total", model_id=CLAUDE) == 7
    assert value(samples, "batchrock_backend_requests_total", backend="echo", model="echo", outcome="ok") == 7
    assert value(samples, "batchrock_backend_request_seconds_count", backend="echo", model="echo") >= 1
    api = scrape(f"{server.url}/metrics")  # the API server ran no record: no backend series of its own
    assert value(api, "batchrock_records_succeeded_total", model_id=CLAUDE) == 7
    assert not any(name.startswith("batchrock_backend_") for name, _ in api)
