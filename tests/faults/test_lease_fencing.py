"""A worker that lost its lease never writes: `batchrock serve` is paused (SIGSTOP) past its lease
while a `batchrock worker` on the same store takes the job over; then it wakes (SIGCONT), or is
told to stop as it wakes (SIGTERM) and started again. The two processes use different part
sizes, and the backend samples (each process answers differently, and fails a random fifth of
the records), so a part overwritten or assembled from the wrong owner would show in the output
or disagree with the counts. Every recordId must come out exactly once, in order, with the
manifest and Get equal to what the output holds, on local buckets and on SeaweedFS."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.clients import bedrock
from tests.support.jobs import create_job, records, write_jsonl
from tests.support.seaweed import S3_ENV, SeaweedS3
from tests.support.server import ServerProcess, end_process

RECORDS = 10000
MODEL = "sampled.model-v1"
CATALOG = """
[backends.sampled]
backend = "echo"
delay_seconds = 0.002
max_in_flight = 1
sample = true
error_rate = 0.2

[[models]]
match = ["sampled.*"]
format = "anthropic-messages"
backend = "sampled"
"""



class Storage:
    """Where the job's input and output live: local buckets in the data dir, or SeaweedFS."""

    def __init__(self, data_dir: Path, seaweed: SeaweedS3 | None) -> None:
        self.data_dir = data_dir
        self.seaweed = seaweed
        self.s3 = None if seaweed is None else boto3.client(
            "s3", endpoint_url=seaweed.url, region_name="us-east-1",
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])

    def flags(self) -> tuple[str, ...]:
        return () if self.seaweed is None else ("--s3-endpoint-url", self.seaweed.url)

    def env(self) -> dict[str, str]:
        return {} if self.seaweed is None else S3_ENV

    def put_input(self, bucket: str, key: str, rows: list[Any], output_bucket: str) -> None:
        if self.s3 is None:
            write_jsonl(self.data_dir / "buckets" / bucket / key, rows)
            return
        for name in (bucket, output_bucket):
            # the bucket may have been made by an earlier scenario on the same SeaweedFS
            with contextlib.suppress(self.s3.exceptions.BucketAlreadyOwnedByYou):
                self.s3.create_bucket(Bucket=name)
        self.s3.put_object(Bucket=bucket, Key=key, Body=b"".join(json.dumps(row).encode() + b"\n" for row in rows))

    def read(self, bucket: str, key: str) -> bytes:
        if self.s3 is None:
            return (self.data_dir / "buckets" / bucket / key).read_bytes()
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def keys(self, bucket: str, prefix: str) -> list[str]:
        if self.s3 is None:
            root = self.data_dir / "buckets" / bucket
            return sorted(p.relative_to(root).as_posix() for p in (root / prefix).rglob("*") if p.is_file())
        listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return sorted(item["Key"] for item in listed)


def start_worker(server: ServerProcess, *flags: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "batchrock.cli.main", "worker", "--data-dir", str(server.data_dir), *flags]
    with open(server.data_dir.parent / "worker.log", "ab") as log:  # the worker writes to its own copy of the descriptor
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=server.env)


def wait_running(server: ServerProcess, worker: subprocess.Popen[bytes]) -> None:
    """The worker is up and polling (its start-up can take seconds on a loaded machine)."""
    log = server.data_dir.parent / "worker.log"
    deadline = time.monotonic() + 60
    while "running" not in (log.read_text() if log.exists() else ""):
        assert worker.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.1)


def lease_epoch(data_dir: Path, job_id: str) -> int:
    """The job's lease epoch, read from the job store's file (a reader waits for no writer)."""
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'batchrock.db'}?mode=ro", uri=True)) as store:
        return int(store.execute("SELECT lease_epoch FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0])


def pause_until_taken_over(server: ServerProcess, job_id: str, rng: random.Random) -> None:
    """Pause serve (SIGSTOP) well past its 2 s lease, until the worker has claimed the job; it is
    left paused. A pause that lands while serve holds SQLite's write lock (inside a checkpoint)
    keeps every other writer out, the worker's claim too, so serve is let go on and paused again."""
    assert server.process is not None
    for _attempt in range(5):
        epoch = lease_epoch(server.data_dir, job_id)
        server.process.send_signal(signal.SIGSTOP)
        time.sleep(rng.uniform(5.0, 7.0))
        if lease_epoch(server.data_dir, job_id) > epoch:
            return
        server.process.send_signal(signal.SIGCONT)
        time.sleep(rng.uniform(0.5, 1.5))
    raise AssertionError("the worker never took the paused job over")


def processed(client: Any, arn: str) -> int:
    return int(client.get_model_invocation_job(jobIdentifier=arn)["processedRecordCount"])


def wait_processed(client: Any, arn: str, at_least: int, seen: list[int]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen.append(processed(client, arn))
        if seen[-1] >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError(f"the job never passed {at_least} records")


def wait_done(client: Any, arn: str, seen: list[int], timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_model_invocation_job(jobIdentifier=arn)
        seen.append(int(job["processedRecordCount"]))
        if job["status"] not in ("Submitted", "Validating", "Scheduled", "InProgress", "Stopping"):
            return dict(job)
        time.sleep(0.2)
    raise AssertionError(f"job {arn} did not end; last {job['status']}")


SCENARIOS = [
    # (storage, serve's part bytes, the worker's, SIGTERM as serve wakes, seed)
    pytest.param("local", 20_000, 200_000, False, 1, id="local-pause"),
    pytest.param("local", 20_000, 200_000, False, 2, id="local-pause-again"),
    pytest.param("local", 5_000_000, 20_000, True, 3, id="local-pause-sigterm"),
    pytest.param("local", 5_000_000, 20_000, True, 4, id="local-pause-sigterm-again"),
    pytest.param("s3", 20_000, 200_000, False, 5, id="s3-pause"),
    pytest.param("s3", 5_000_000, 20_000, True, 6, id="s3-pause-sigterm"),
]


@pytest.mark.parametrize("storage_kind, serve_part, worker_part, sigterm, seed", SCENARIOS)
def test_a_paused_worker_that_lost_its_lease_writes_nothing(
        tmp_path: Path, request: pytest.FixtureRequest, storage_kind: str, serve_part: int, worker_part: int,
        sigterm: bool, seed: int) -> None:
    rng = random.Random(seed)
    seaweed = request.getfixturevalue("seaweed") if storage_kind == "s3" else None
    (tmp_path / "catalog.toml").write_text(CATALOG)
    storage = Storage(tmp_path / "data", seaweed)
    common = ("--catalog", str(tmp_path / "catalog.toml"), "--lease-seconds", "2", *storage.flags())
    server = ServerProcess(storage.data_dir, extra_args=(*common, "--part-bytes", str(serve_part)), env=storage.env())
    storage.data_dir.mkdir(parents=True)
    rows = records(RECORDS)
    source, target = "fence-in", "fence-out"  # SeaweedFS gives each bucket volumes of its own: few buckets
    storage.put_input(source, f"in/{seed}/a.jsonl", rows, target)
    worker = None
    try:
        server.start()
        client = bedrock(server.url)
        arn = create_job(client, f"s3://{source}/in/{seed}/", f"s3://{target}/out/", model=MODEL)
        seen: list[int] = []
        wait_processed(client, arn, 1000, seen)
        worker = start_worker(server, *common, "--part-bytes", str(worker_part))
        wait_running(server, worker)
        time.sleep(rng.uniform(0.5, 1.5))
        pause_until_taken_over(server, arn.rsplit("/", 1)[1], rng)
        assert server.process is not None
        if sigterm:
            server.process.send_signal(signal.SIGTERM)
        server.process.send_signal(signal.SIGCONT)
        if sigterm:
            server.process.wait(timeout=30)
            server.start()
            client = bedrock(server.url)
        job = wait_done(client, arn, seen)
    finally:
        end_process(worker)
        server.stop()
    assert job["status"] == "Completed", job.get("message")
    assert seen == sorted(seen), f"processedRecordCount went backwards: {seen}"
    job_id = arn.rsplit("/", 1)[1]
    lines = [json.loads(line) for line in storage.read(target, f"out/{job_id}/a.jsonl.out").splitlines()]
    assert [line["recordId"] for line in lines] == [row["recordId"] for row in rows]
    errors = sum("error" in line for line in lines)
    manifest = json.loads(storage.read(target, f"out/{job_id}/manifest.json.out"))
    assert 0 < errors < RECORDS
    assert (manifest["processedRecordCount"], manifest["successRecordCount"], manifest["errorRecordCount"]) == \
        (RECORDS, RECORDS - errors, errors)
    assert (job["processedRecordCount"], job["successRecordCount"], job["errorRecordCount"]) == \
        (RECORDS, RECORDS - errors, errors)
    assert manifest["outputTokenCount"] == sum(line["modelOutput"]["usage"]["output_tokens"]
                                               for line in lines if "error" not in line)
    assert storage.keys(target, f"out/{job_id}/") == sorted([f"out/{job_id}/a.jsonl.out", f"out/{job_id}/manifest.json.out"])
    assert "lease" in (server.log_path.read_text() if server.log_path.exists() else ""), "serve never noticed"
