from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.support.clients import ROLE, bedrock
from tests.support.server import ServerProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # API contract tests: no worker, so jobs stay where the API put them
    process = ServerProcess(tmp_path_factory.mktemp("server") / "data", extra_args=("--no-worker",)).start()
    yield process
    process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Any:
    return bedrock(server.url)


def unique_name(prefix: str = "job") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def job_request(name: str | None = None, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "jobName": name or unique_name(),
        "roleArn": ROLE,
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bucket/in/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out/"}},
    }
    request.update(overrides)
    return request


@pytest.fixture
def make_job(client: Any) -> Callable[..., str]:
    def create(**overrides: Any) -> str:
        return str(client.create_model_invocation_job(**job_request(**overrides))["jobArn"])

    return create
