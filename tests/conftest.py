from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import ROLE, bedrock
from tests.support.seaweed import SeaweedS3
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A real S3 server (SeaweedFS) for the module's tests."""
    started = SeaweedS3(tmp_path_factory.mktemp("seaweed")).start()
    yield started
    started.stop()


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


ECHO_CATALOG = str(Path(__file__).resolve().parent / "support" / "echo_catalog.toml")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a server on the echo test catalog; extra flags per test."""
    started: list[ServerProcess] = []

    def start(*flags: str, data: str = "data", env: dict[str, str] | None = None) -> ServerProcess:
        args = ("--catalog", ECHO_CATALOG, "--lease-seconds", "2", *flags)
        server = ServerProcess(tmp_path / data, extra_args=args, env=env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def engine(start_server: Callable[..., ServerProcess]) -> dict[str, Any]:
    server = start_server("--part-bytes", "4096", "--batch-size", "4")
    return {"server": server, "client": bedrock(server.url), "buckets": server.data_dir / "buckets"}
