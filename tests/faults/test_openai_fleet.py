"""The ``openai`` backend over a fleet of real OpenAI-compatible servers (llama-cpp-python's
server with the packaged SmolLM2 model): requests spread over the servers, a server killed
mid-job is taken out and its requests go to the others, it takes requests again once restarted,
and the job pauses only while every server is down. The servers' own access logs say who
answered what."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchrock.backends.base import BackendError, GenerationRequest, Message, RequestKind
from batchrock.backends.openai_compat import OpenAICompatBackend, OpenAIOptions
from batchrock.catalog import Catalog, CatalogError
from tests.faults.test_backend_faults import wait_for_progress
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, read_output_lines, wait_for, write_jsonl
from tests.support.openai_server import OpenAIServer
from tests.support.server import ServerProcess

MODEL = "local.fleet"


def fleet_catalog(path: Path, urls: list[str], **options: object) -> Path:
    settings = "".join(f"{key} = {value!r}\n" for key, value in options.items())
    listed = ", ".join(f'"{url}"' for url in urls)
    path.write_text(f'[backends.fleet]\nbackend = "openai"\nbase_urls = [{listed}]\nmodel = "smollm2"\n{settings}\n'
                    f'[[models]]\nmatch = ["{MODEL}"]\nformat = "anthropic-messages"\nbackend = "fleet"\n')
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[OpenAIServer]]:
    logs = tmp_path_factory.mktemp("fleet")
    fleet = [OpenAIServer(logs / f"server-{name}.log") for name in "ab"]
    try:
        yield [server.start() for server in fleet]
    finally:
        for server in fleet:
            server.stop()


@pytest.fixture(scope="module")
def service(servers: list[OpenAIServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("service")
    catalog = fleet_catalog(root / "catalog.toml", [server.url for server in servers], max_in_flight=2, timeout_seconds=30)
    server = ServerProcess(root / "data", extra_args=("--catalog", str(catalog))).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def all_running(request: pytest.FixtureRequest) -> None:
    """A test that killed a server leaves it for the next one to start again."""
    if "servers" in request.fixturenames:
        for server in request.getfixturevalue("servers"):
            if server.process is None:
                server.start()


def start_job(service: ServerProcess, name: str, count: int) -> tuple[str, list[str]]:
    ids = [f"{name}{i:03d}" for i in range(count)]
    rows = [{"recordId": record_id, "modelInput": claude_input(f"Count to {i}", max_tokens=4)} for i, record_id in enumerate(ids)]
    write_jsonl(service.data_dir / f"buckets/fleet/{name}/x.jsonl", rows)
    return create_job(bedrock(service.url), f"s3://fleet/{name}/", f"s3://fleet/{name}-out/", model=MODEL), ids


def finish(service: ServerProcess, arn: str, name: str, ids: list[str]) -> dict[str, Any]:
    """Waits for the job; every record answered exactly once, in input order, none an error."""
    job = wait_for(bedrock(service.url), arn, timeout=240, watch=[service])
    assert job["status"] == "Completed" and job["errorRecordCount"] == 0, job.get("message")
    lines = read_output_lines(service.data_dir / f"buckets/fleet/{name}-out" / arn.rsplit("/", 1)[1] / "x.jsonl.out")
    assert [line["recordId"] for line in lines] == ids
    assert all("modelOutput" in line for line in lines)
    return job


def test_a_job_over_a_fleet_is_answered_by_every_server(servers: list[OpenAIServer], service: ServerProcess) -> None:
    before = [server.posts() for server in servers]
    arn, ids = start_job(service, "spread", 8)
    finish(service, arn, "spread", ids)
    assert all(server.posts() > count for server, count in zip(servers, before, strict=True))


def test_a_killed_server_is_taken_out_without_pausing_the_job_and_takes_requests_once_back(
        servers: list[OpenAIServer], service: ServerProcess) -> None:
    dying = servers[0]
    log_mark = len(service.log())
    arn, ids = start_job(service, "killed", 56)
    client = bedrock(service.url)
    assert wait_for_progress(client, arn, 4)["status"] == "InProgress"
    dying.kill()  # mid-request: the requests it held go to the survivor at once
    processed = wait_for_progress(client, arn, 6)["processedRecordCount"]
    dying.start()
    back_at = dying.posts()
    finish(service, arn, "killed", ids)
    assert dying.posts() > back_at, f"the restarted server got no requests after {processed} records"
    assert "backend unavailable" not in service.log()[log_mark:]  # one server up: the job never paused


def test_a_fleet_all_down_pauses_the_job_until_one_is_back(servers: list[OpenAIServer], service: ServerProcess) -> None:
    log_mark = len(service.log())
    arn, ids = start_job(service, "alldown", 48)  # enough that a loaded machine's late look still finds it running
    client = bedrock(service.url)
    assert wait_for_progress(client, arn, 2)["status"] == "InProgress"
    for server in servers:
        server.kill()
    time.sleep(4)
    paused = client.get_model_invocation_job(jobIdentifier=arn)
    assert paused["status"] == "InProgress" and paused.get("errorRecordCount", 0) == 0
    servers[1].start()
    finish(service, arn, "alldown", ids)
    assert "backend unavailable" in service.log()[log_mark:]


def test_a_request_on_a_dead_server_goes_to_another_within_the_same_call(servers: list[OpenAIServer],
                                                                         tmp_path: Path) -> None:
    """No engine in between: the backend alone re-sends what the dead server failed."""
    dead = OpenAIServer(tmp_path / "never-started.log")  # nothing listens on its port
    backend = OpenAICompatBackend(OpenAIOptions(base_urls=(dead.url, servers[0].url), model="smollm2", max_in_flight=2))
    requests = [GenerationRequest(RequestKind.CHAT, (Message("user", f"Say {i}"),), max_tokens=2) for i in range(4)]
    try:
        answers = asyncio.run(backend.generate(requests))
        assert not [answer for answer in answers if isinstance(answer, BackendError)]
        assert backend.max_in_flight == 4 and backend.sent()[servers[0].url] == 4
        assert asyncio.run(backend.healthy())
    finally:
        backend.close()


@pytest.mark.parametrize(("table", "expected"), [
    ('base_url = "http://a:8000"\nbase_urls = ["http://b:8000"]', "set exactly one of base_url .* and base_urls"),
    ('model = "m"', "set exactly one of base_url .* and base_urls"),
    ('base_urls = ["http://a:8000", "http://a:8000/"]', "base_urls names a server twice"),
])
def test_a_catalog_entry_names_one_server_or_a_fleet(tmp_path: Path, table: str, expected: str) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(f'[backends.remote]\nbackend = "openai"\n{table}\n\n[[models]]\nmatch = ["{MODEL}"]\n'
                    'format = "anthropic-messages"\nbackend = "remote"\n')
    with pytest.raises(CatalogError, match=f"bad options for the openai backend: {expected}"):
        Catalog.load(path)
