"""Helpers to write inputs, run jobs and read outputs in engine tests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import orjson

from tests.support.clients import ROLE

TERMINAL = {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"}


class Watched(Protocol):
    """A process a test started (ServerProcess, OpenAIServer): raises with its log if it died."""

    def check_alive(self) -> None: ...


def claude_input(text: str, max_tokens: int = 20) -> dict[str, Any]:
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}


def records(count: int, prefix: str = "R", start: int = 0) -> list[dict[str, Any]]:
    return [{"recordId": f"{prefix}{i:06d}", "modelInput": claude_input(f"hello {i}")} for i in range(start, start + count)]


def write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for row in rows:
            handle.write(row if isinstance(row, bytes) else json.dumps(row).encode())
            handle.write(b"\n")
    return path


def create_job(client: Any, input_uri: str, output_uri: str, model: str = "anthropic.claude-3-haiku-20240307-v1:0",
               **extra: Any) -> str:
    name = f"job-{time.time_ns()}"
    return str(client.create_model_invocation_job(
        jobName=name, roleArn=ROLE, modelId=model,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}}, **extra)["jobArn"])


def wait_for(client: Any, arn: str, statuses: set[str] = TERMINAL, timeout: float = 120,
             watch: Iterable[Watched] = ()) -> dict[str, Any]:
    """Poll Get until the job reaches ``statuses``; fail at once, with its log, if a watched process died."""
    watched = list(watch)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in watched:
            process.check_alive()
        job = client.get_model_invocation_job(jobIdentifier=arn)
        if job["status"] in statuses:
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {arn} never reached {statuses}; last {job['status']} {job.get('message')}")


def read_output_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
