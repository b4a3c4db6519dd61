"""A part is written in a thread while the records after it go on; its checkpoint is saved only
once the write returns, and the next part waits for it: one part at a time between buffer and
checkpoint. The slow disk is a gate on the real local store's part writes (a disk cannot be
made slow on demand here)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from pathlib import Path

from batchrock.backends.registry import BackendRegistry
from batchrock.catalog import Catalog
from batchrock.engine.config import EngineConfig
from batchrock.engine.lease import HeldLease
from batchrock.engine.lifecycle import JobLifecycle
from batchrock.engine.runner import RunDeps
from batchrock.jobs.clock import SystemClock
from batchrock.jobs.model import JobSpec, JobStatus, Owner, S3InputConfig, S3OutputConfig
from batchrock.jobs.pagination import TokenSigner
from batchrock.jobs.service import JobService
from batchrock.security.policy import Policy
from batchrock.storage.local import LocalObjectStore
from batchrock.store.sql import SqlJobStore, sqlite_url
from tests.conftest import ECHO_CATALOG
from tests.support.clients import ACCOUNT, ROLE
from tests.support.jobs import read_output_lines, records, write_jsonl
from tests.support.waiting import wait_until

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


class GatedParts(LocalObjectStore):
    """The local store, but each part write waits at a gate the test opens."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()
        self.parts_started: list[str] = []
        self.part_records: list[int] = []

    def put_object(self, bucket: str, key: str, data: bytes | bytearray, kms_key_id: str | None = None) -> None:
        if "/.batchrock-parts/" in key:
            self.parts_started.append(key)
            self.part_records.append(bytes(data).count(b"\n"))
            self.gate.wait(60)
        super().put_object(bucket, key, data, kms_key_id)


def test_a_part_is_checkpointed_once_written_while_the_records_after_it_go_on(tmp_path: Path) -> None:
    objects = GatedParts(tmp_path)
    store = SqlJobStore(sqlite_url(tmp_path))
    clock = SystemClock()
    # a part every 4 records or so; one record per backend call, so the buffer fills a block at a time
    config = EngineConfig(progress_seconds=0.0, part_bytes=1000, batch_size=1)
    deps = RunDeps(store, objects, clock, config, "w1")
    backends = BackendRegistry.from_entry_points()
    lifecycle = JobLifecycle(deps, Catalog.load(Path(ECHO_CATALOG)), Policy(None), backends)
    service = JobService(store, clock, TokenSigner(b"k" * 32), Policy(None), default_page_size=10, max_tags=5)
    rows = records(40)
    write_jsonl(tmp_path / "buckets/bucket/in/a.jsonl", rows)
    spec = JobSpec("gated", ROLE, MODEL, S3InputConfig("s3://bucket/in/"), S3OutputConfig("s3://bucket/out/"), 24)
    job = service.create(Owner(ACCOUNT, "us-east-1"), spec, [])

    def claim(status: JobStatus) -> HeldLease:
        now = clock.now()
        claimed = store.claim_next([status], "w1", now, now + timedelta(seconds=60))
        assert claimed is not None
        return HeldLease(claimed.lease, store, clock, 60)

    try:
        lifecycle.validate(job, held := claim(JobStatus.SUBMITTED))
        held.release()
        claimed = claim(JobStatus.SCHEDULED)
        current = store.get_job_by_id(job.job_id)
        assert current is not None
        run = threading.Thread(target=lambda: asyncio.run(lifecycle.run(current, claimed)))
        run.start()
        wait_until(lambda: len(objects.parts_started) == 1, what="the first part is being written")

        def processed() -> int:
            found = store.get_job_by_id(job.job_id)
            return found.counts.processed if found else 0

        # the records after the part go on while it is written, up to the next full part
        wait_until(lambda: processed() > objects.part_records[0], what="records go on while the part is written")
        time.sleep(0.3)
        assert len(objects.parts_started) == 1, "a second part started before the first was checkpointed"
        assert store.load_files(job.job_id)[0].parts == (), "checkpointed before its part was written"
        objects.gate.set()
        run.join(60)
        assert not run.is_alive()
    finally:
        objects.gate.set()
        backends.close()
    ended = store.get_job_by_id(job.job_id)
    assert ended is not None and ended.status is JobStatus.COMPLETED, ended
    assert len(objects.parts_started) > 2
    lines = read_output_lines(tmp_path / "buckets/bucket/out" / job.job_id / "a.jsonl.out")
    assert [line["recordId"] for line in lines] == [row["recordId"] for row in rows]
    store.close()


def test_the_writer_thread_is_handed_the_gil_within_half_a_millisecond() -> None:
    """Each of the writer's system calls ends by taking the GIL back from the busy event loop: the
    process's switch interval is made no longer than ``GIL_SWITCH_SECONDS``, and a shorter one stays."""
    import sys

    from batchrock.engine.runner import GIL_SWITCH_SECONDS, hand_over_the_gil_sooner

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        hand_over_the_gil_sooner()
        assert sys.getswitchinterval() <= GIL_SWITCH_SECONDS
        sys.setswitchinterval(GIL_SWITCH_SECONDS / 5)
        hand_over_the_gil_sooner()
        assert sys.getswitchinterval() < GIL_SWITCH_SECONDS
    finally:
        sys.setswitchinterval(before)
