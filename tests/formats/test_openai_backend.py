"""The ``openai`` backend against a real OpenAI-compatible server started on loopback
(llama-cpp-python's server with the packaged SmolLM2 model)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

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
