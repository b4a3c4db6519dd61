"""A real ``batchrock serve`` on the echo test catalog for the follow-up commands, and the commands
run in-process (``batchrock.cli.main.main``) with the test account's credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from batchrock.cli.main import main
from tests.conftest import ECHO_CATALOG
from tests.support.clients import aws_env, bedrock
from tests.support.jobs import create_job, write_jsonl
from tests.support.server import ServerProcess


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def server_flags(server: ServerProcess) -> tuple[str, ...]:
    """Where the commands find the server and its local buckets."""
    return "--endpoint-url", server.url, "--data-dir", str(server.data_dir)


def run_job(server: ServerProcess, client: Any, prefix: str, files: dict[str, list[Any]], **extra: Any) -> str:
    """A job over ``files`` (name -> rows) written under ``s3://bucket/<prefix>/in/``; output to ``.../out/``."""
    for name, rows in files.items():
        write_jsonl(server.data_dir / "buckets" / "bucket" / prefix / "in" / name, rows)
    return create_job(client, f"s3://bucket/{prefix}/in/", f"s3://bucket/{prefix}/out/", **extra)


@pytest.fixture(scope="package")
def echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("followup") / "data",
                           extra_args=("--catalog", ECHO_CATALOG, "--batch-size", "4", "--part-bytes", "4096")).start()
    yield server
    server.stop()


@pytest.fixture
def echo_client(echo_server: ServerProcess) -> Any:
    return bedrock(echo_server.url)


@pytest.fixture
def batchrock(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """``batchrock ARGS`` in this process, as the test account (the one tests.support.clients signs with)."""
    for name, value in aws_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)

    def run(*args: str) -> Ran:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run
