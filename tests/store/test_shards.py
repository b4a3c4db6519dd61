"""Shard rows on both dialects: saved with the file plan, each write fenced by the lease epoch,
and shards a dead coordinator left running put back to pending by the next claim."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from batchrock.jobs.model import JobStatus, RecordCounts
from batchrock.jobs.shards import ShardProgress, ShardState
from batchrock.jobs.store import FileProgress
from batchrock.store.sql import SqlJobStore
from tests.store.test_dialects import T0, job

PLAN = [FileProgress(0, "in/a.jsonl", "out/a.jsonl.out", 5)]
SHARDS = [ShardProgress(0, 0, 0, 30, 0, RecordCounts(total=3)), ShardProgress(0, 1, 30, 52, 3, RecordCounts(total=2))]


def test_shard_writes_are_fenced_and_running_shards_go_back_to_pending(store: SqlJobStore) -> None:
    store.add_job(job(1), [])
    first = store.claim_next([JobStatus.SCHEDULED], "w1", T0, T0 + timedelta(seconds=3))
    assert first is not None and store.save_files(first.lease, PLAN, RecordCounts(5), T0, SHARDS)
    assert store.load_shards("job00000001") == SHARDS
    done = SHARDS[0].done("parts/s0", RecordCounts(processed=3, success=3, output_tokens=9), "node-a", 1)
    assert store.save_shard(first.lease, done, RecordCounts(5, 3, 3, output_tokens=9), T0)
    running = replace(SHARDS[1], state=ShardState.RUNNING, runner="node-b", epoch=1)
    assert store.save_shard(first.lease, running, None, T0)
    assert store.get_job_by_id("job00000001").counts.processed == 3  # type: ignore[union-attr]

    second = store.claim_next([JobStatus.SCHEDULED], "w2", T0 + timedelta(seconds=4), T0 + timedelta(seconds=60))
    assert second is not None
    assert not store.save_shard(first.lease, replace(running, state=ShardState.DONE), None, T0)
    assert not store.requeue_running_shards(first.lease)
    assert store.requeue_running_shards(second.lease)
    assert store.load_shards("job00000001") == [done, replace(running, state=ShardState.PENDING, runner=None)]
