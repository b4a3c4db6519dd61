"""The ``openai`` backend against a real OpenAI-compatible server started on loopback
(llama-cpp-python's server with the packaged SmolLM2 model), and against the GPU server
instrument (``bench/gpu_server.py``), which counts what it sees, for how jobs share a backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.gpu_server import GpuServerProcess

from tests.support.catalogs import openai_catalog
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, read_output_lines, wait_for, write_jsonl
from tests.support.openai_server import OpenAIServer
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def openai_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = OpenAIServer(tmp_path_factory.mktemp("openai") / "server.log").start()
    yield server.url
    server.stop()


def test_job_through_an_openai_compatible_server(openai_server: str, tmp_path: Path) -> None:
    catalog = openai_catalog(tmp_path / "catalog.toml", openai_server, "local.smollm2-remote", max_in_flight=4)
    server = ServerProcess(tmp_path / "data", extra_args=("--catalog", str(catalog))).start()
    try:
        client = bedrock(server.url)
        rows = [{"recordId": f"r{i}", "modelInput": claude_input(f"Say the number {i}", max_tokens=6)} for i in range(6)]
        write_jsonl(server.data_dir / "buckets/bkt/in/x.jsonl", rows)
        arn = create_job(client, "s3://bkt/in/", "s3://bkt/out/", model="local.smollm2-remote")
        job = wait_for(client, arn, timeout=300)
        assert job["status"] == "Completed", job.get("message")
        lines = read_output_lines(server.data_dir / "buckets/bkt/out" / arn.rsplit("/", 1)[1] / "x.jsonl.out")
        assert [line["recordId"] for line in lines] == [row["recordId"] for row in rows]
        for line in lines:
            out = line["modelOutput"]
            assert out["stop_reason"] in ("end_turn", "max_tokens") and 0 < out["usage"]["output_tokens"] <= 6
            assert out["usage"]["input_tokens"] > 0
    finally:
        server.stop()


@pytest.fixture
def gpu_server() -> Iterator[GpuServerProcess]:
    server = GpuServerProcess(slots=16, prefill_ms=100, token_ms=0).start()  # 100 ms a request, room for 16
    yield server
    server.stop()


def test_two_jobs_share_one_pool_and_one_limit_and_both_progress(gpu_server: GpuServerProcess, tmp_path: Path) -> None:
    catalog = openai_catalog(tmp_path / "catalog.toml", gpu_server.url, "local.shared", max_in_flight=3)
    server = ServerProcess(tmp_path / "data", extra_args=("--catalog", str(catalog), "--max-running-jobs", "2")).start()
    try:
        client = bedrock(server.url)
        arns = {}
        for name in ("a", "b"):
            rows = [{"recordId": f"{name}{i}", "modelInput": claude_input(f"job {name} record {i}", max_tokens=4)}
                    for i in range(60)]
            write_jsonl(server.data_dir / f"buckets/bkt/{name}/x.jsonl", rows)
            arns[name] = create_job(client, f"s3://bkt/{name}/", f"s3://bkt/{name}-out/", model="local.shared")
        for arn in arns.values():
            assert wait_for(client, arn, timeout=120, watch=[server])["status"] == "Completed"
        stats = gpu_server.stats()
    finally:
        server.stop()
    assert stats["peak_open"] == 3  # both jobs wanted more: one limit held them to max_in_flight
    assert stats["connections"] <= 4  # one pool, reused across calls and jobs (max_in_flight + the probe's)
    jobs = [prompt.split()[1] for prompt in stats["arrivals"]]
    overlap = jobs[jobs.index("b"):len(jobs) - jobs[::-1].index("a")]  # while both jobs had records left
    assert len(overlap) >= 30 and 1 / 3 <= overlap.count("b") / len(overlap) <= 2 / 3, "".join(jobs)
