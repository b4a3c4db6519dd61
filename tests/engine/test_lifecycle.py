"""Every status path: stop mid-job, expiry and timeout with the test clock, queueing in Scheduled;
in process, a backend that cannot be resolved and a stop that comes between a claim and its run."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from batchrock.backends.registry import BackendRegistry
from batchrock.catalog import Catalog
from batchrock.engine.config import EngineConfig
from batchrock.engine.lease import HeldLease
from batchrock.engine.lifecycle import JobLifecycle
from batchrock.engine.runner import RunDeps
from batchrock.jobs.clock import SystemClock
from batchrock.jobs.model import Job, JobSpec, JobStatus, Owner, S3InputConfig, S3OutputConfig
from batchrock.jobs.pagination import TokenSigner
from batchrock.jobs.service import JobService
from batchrock.jobs.store import StatusChange
from batchrock.jobs.transitions import TO_RUN
from batchrock.security.policy import Policy
from batchrock.storage.local import LocalObjectStore
from batchrock.store.sql import SqlJobStore, sqlite_url
from tests.conftest import ECHO_CATALOG
from tests.support.clients import ACCOUNT, ROLE, bedrock
from tests.support.jobs import create_job, read_output_lines, records, wait_for, write_jsonl

SLOW = "slow.model-v1"  # echo backend with 20 ms per record (tests/support/echo_catalog.toml)
OWNER = Owner(ACCOUNT, "us-east-1")


def test_stop_mid_job_keeps_processed_outputs(start_server: Callable[..., Any]) -> None:
    server = start_server("--part-bytes", "2048", "--batch-size", "2")
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(1000))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW)
    wait_for(client, arn, {"InProgress"})
    time.sleep(1.0)
    client.stop_model_invocation_job(jobIdentifier=arn)
    asked = time.monotonic()
    assert client.get_model_invocation_job(jobIdentifier=arn)["status"] in ("Stopping", "Stopped")
    job = wait_for(client, arn)
    assert job["status"] == "Stopped" and time.monotonic() - asked < 5
    out = server.data_dir / "buckets/bucket/out" / arn.rsplit("/", 1)[1]
    lines = read_output_lines(out / "a.jsonl.out")
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert 0 < len(lines) < 1000
    assert manifest["processedRecordCount"] == len(lines) == job["processedRecordCount"]
    assert [line["recordId"] for line in lines] == [f"R{i:06d}" for i in range(len(lines))]


def test_counts_move_while_running(start_server: Callable[..., Any]) -> None:
    server = start_server("--batch-size", "2")
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(300))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW)
    wait_for(client, arn, {"InProgress"})
    seen = set()
    while (job := client.get_model_invocation_job(jobIdentifier=arn))["status"] == "InProgress":
        seen.add(job["processedRecordCount"])
        assert job["totalRecordCount"] == 300
        time.sleep(0.2)
    assert len(seen) >= 3
    assert job["status"] == "Completed" and job["processedRecordCount"] == 300


def test_scheduled_job_that_never_starts_expires(start_server: Callable[..., Any], tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    clock.write_text("0")
    server = start_server("--max-running-jobs", "0", env={"BATCHROCK_TEST_CLOCK_FILE": str(clock)})
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(3))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", timeoutDurationInHours=24)
    wait_for(client, arn, {"Scheduled"})
    clock.write_text(str(25 * 3600))
    job = wait_for(client, arn)
    assert job["status"] == "Expired" and "jobExpirationTime" in job["message"]
    assert job["endTime"] >= job["jobExpirationTime"]


def test_running_job_past_its_timeout_is_partially_completed(start_server: Callable[..., Any], tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    clock.write_text("0")
    server = start_server("--batch-size", "2", env={"BATCHROCK_TEST_CLOCK_FILE": str(clock)})
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(1000))
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW, timeoutDurationInHours=24)
    wait_for(client, arn, {"InProgress"})
    time.sleep(0.5)
    clock.write_text(str(25 * 3600))
    job = wait_for(client, arn)
    assert job["status"] == "PartiallyCompleted" and "timed out" in job["message"]
    out = server.data_dir / "buckets/bucket/out" / arn.rsplit("/", 1)[1]
    manifest = json.loads((out / "manifest.json.out").read_text())
    assert 0 < manifest["processedRecordCount"] < 1000
    assert len(read_output_lines(out / "a.jsonl.out")) == manifest["processedRecordCount"]


def test_jobs_beyond_the_running_limit_wait_in_scheduled(start_server: Callable[..., Any]) -> None:
    server = start_server("--max-running-jobs", "1", "--batch-size", "2")
    client = bedrock(server.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(100))
    first = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW)
    second = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model=SLOW)
    wait_for(client, first, {"InProgress"})
    assert wait_for(client, second, {"Scheduled", "InProgress"})["status"] == "Scheduled"
    assert wait_for(client, first)["status"] == "Completed"
    assert wait_for(client, second)["status"] == "Completed"
    first_job = client.get_model_invocation_job(jobIdentifier=first)
    second_job = client.get_model_invocation_job(jobIdentifier=second)
    assert first_job["endTime"] <= second_job["endTime"]


# In process: the real store, object store, service and lifecycle, driven one step at a time.

BROKEN = "broken.model-v1"  # its catalog entry names a backend kind no plugin provides


@dataclass
class InProcess:
    store: SqlJobStore
    service: JobService
    lifecycle: JobLifecycle
    deps: RunDeps

    def claim(self, statuses: Iterable[JobStatus], lease_seconds: float = 60) -> tuple[Job, HeldLease]:
        now = self.deps.clock.now()
        claim = self.store.claim_next(statuses, "w1", now, now + timedelta(seconds=lease_seconds))
        assert claim is not None
        return claim.job, HeldLease(claim.lease, self.store, self.deps.clock, lease_seconds)

    def current(self, job_id: str) -> Job:
        found = self.store.get_job_by_id(job_id)
        assert found is not None
        return found


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[InProcess]:
    catalog = Catalog.load(Path(ECHO_CATALOG))
    catalog.backends["broken"] = {"backend": "nosuch"}
    catalog.models.append({"match": ["broken.*"], "format": "anthropic-messages", "backend": "broken"})
    store = SqlJobStore(sqlite_url(tmp_path))
    clock = SystemClock()
    deps = RunDeps(store, LocalObjectStore(tmp_path), clock, EngineConfig(progress_seconds=0.0), "w1")
    service = JobService(store, clock, TokenSigner(b"k" * 32), Policy(None), default_page_size=10, max_tags=5)
    write_jsonl(tmp_path / "buckets/bucket/in/a.jsonl", records(20))
    backends = BackendRegistry.from_entry_points()
    yield InProcess(store, service, JobLifecycle(deps, catalog, Policy(None), backends), deps)
    backends.close()
    store.close()


def _scheduled_job(engine: InProcess, model: str) -> Job:
    spec = JobSpec(f"job-{time.time_ns()}", ROLE, model, S3InputConfig("s3://bucket/in/"), S3OutputConfig("s3://bucket/out/"), 24)
    created = engine.service.create(OWNER, spec, [])
    job, held = engine.claim([JobStatus.SUBMITTED])
    engine.lifecycle.validate(job, held)
    held.release()
    assert engine.current(created.job_id).status is JobStatus.SCHEDULED
    return created


def test_a_lease_renewed_after_its_release_is_not_lost_to_another_worker(in_process: InProcess) -> None:
    """A heartbeat that took its list of leases just before a job's run released one renews it
    after: the store refuses, and the worker must not report (or act on) a takeover."""
    spec = JobSpec("released", ROLE, "anthropic.claude-3-haiku-20240307-v1:0", S3InputConfig("s3://bucket/in/"),
                   S3OutputConfig("s3://bucket/out/"), 24)
    in_process.service.create(OWNER, spec, [])
    _job, held = in_process.claim([JobStatus.SUBMITTED])
    assert held.renew()
    held.release()
    assert not held.renew() and not held.lost
    in_process.claim([JobStatus.SUBMITTED])  # released: another claim may take it
    stale = HeldLease(held.lease, in_process.store, in_process.deps.clock, 60)
    assert not stale.renew() and stale.lost  # a lease it never released, now another's: lost


def test_a_scheduled_job_whose_backend_is_unknown_fails_with_the_reason(in_process: InProcess) -> None:
    created = _scheduled_job(in_process, BROKEN)
    job, held = in_process.claim([JobStatus.SCHEDULED])
    asyncio.run(in_process.lifecycle.run(job, held))
    ended = in_process.current(created.job_id)
    assert ended.status is JobStatus.FAILED and "no backend named 'nosuch'" in (ended.message or ""), ended
    assert ended.end_time is not None


def _start_and_die(engine: InProcess, job: Job) -> None:
    """A worker moves the job to InProgress and dies: its lease has lapsed at once."""
    _claimed, dead = engine.claim([JobStatus.SCHEDULED], lease_seconds=-1)
    assert engine.store.change_status(StatusChange(job.job_id, JobStatus.SCHEDULED, JobStatus.IN_PROGRESS,
                                                   engine.deps.clock.now(), lease=dead.lease))


@pytest.mark.parametrize("claimed_as", [JobStatus.SCHEDULED, JobStatus.IN_PROGRESS, JobStatus.STOPPING])
def test_a_job_stopped_before_its_run_starts_ends_stopped(in_process: InProcess, claimed_as: JobStatus) -> None:
    created = _scheduled_job(in_process, "anthropic.claude-3-haiku-20240307-v1:0")
    if claimed_as is not JobStatus.SCHEDULED:
        _start_and_die(in_process, created)
    if claimed_as is JobStatus.STOPPING:  # stopped while no worker held it
        in_process.service.stop(OWNER, created.arn)
    job, held = in_process.claim([claimed_as])
    in_process.service.stop(OWNER, created.arn)  # between the claim and the run (a no-op once Stopping)
    asyncio.run(in_process.lifecycle.run(job, held))
    assert in_process.current(created.job_id).status is JobStatus.STOPPED
    later = in_process.deps.clock.now() + timedelta(hours=1)
    assert in_process.store.claim_next(TO_RUN, "w2", later, later + timedelta(hours=1)) is None  # nothing to retry
