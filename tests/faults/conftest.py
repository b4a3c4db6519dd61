from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.support.clients import bedrock
from tests.support.server import ServerProcess

ECHO_CATALOG = str(Path(__file__).resolve().parents[1] / "support" / "echo_catalog.toml")


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
