"""A job's shards on a Ray cluster, coordinated from the process that holds the job's lease.

The coordinator loads the job's shards, sends the pending ones to the replicas (a few in flight
on each, so a backend that batches always has the next shard's records waiting), and as each
comes back records it done, with its output object and counts, in a write fenced by the lease.
When a file's shards are all done, its ``.out`` is composed from their objects in order, with
the same ``compose`` the in-process runner uses for its parts; the file's checkpoint then lists
them as its parts, so the end-of-job check, the manifest and removing parts work unchanged.

A replica that dies (its node lost, its process killed) costs only its shards in flight: they go
back to pending and run on another replica. A coordinator that dies loses nothing done: the
next claim raises the epoch, puts the shards left running back to pending and runs only those.
Stop, timeout and shutdown cancel the shards in flight (``ray.cancel``); stop and timeout then
compose each started file from its contiguous done prefix, as the in-process runner does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, ObjectLostError, RayActorError, TaskCancelledError, WorkerCrashedError

from batchrock.engine.inputs import shard_key
from batchrock.engine.lease import HeldLease, LeaseLost
from batchrock.engine.ray_pool import Replica, ReplicaPool, pool_for
from batchrock.engine.ray_replica import ReplicaSpec
from batchrock.engine.runner import Halt, RunDeps
from batchrock.engine.shard_run import ShardTask
from batchrock.engine.shards import done_prefix, file_from_shards, shards_by_file
from batchrock.jobs.model import Job, JobStatus, RecordCounts
from batchrock.jobs.shards import ShardProgress, ShardState
from batchrock.jobs.store import FileProgress
from batchrock.storage.base import Location

log = logging.getLogger("batchrock.engine")

# A shard's replica is gone: the shard runs again elsewhere.
REPLICA_LOST = (RayActorError, WorkerCrashedError, ObjectLostError, ActorUnavailableError)
_connect_lock = threading.Lock()


def connect(address: str | None) -> None:
    """Join the Ray cluster once per process, as a driver that takes no resources itself."""
    with _connect_lock:
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)


@dataclass(eq=False)
class InFlight:
    shard: ShardProgress
    replica: Replica
    task: ShardTask
    ref: Any
    result: asyncio.Future[Any]


class RayCoordinator:
    def __init__(self, job: Job, lease: HeldLease, deps: RunDeps, format_name: str, spec: ReplicaSpec) -> None:
        self.job, self.lease, self.deps, self.format_name, self.spec = job, lease, deps, format_name, spec
        self.output = Location.parse(job.spec.output_config.s3_uri)
        self.files: dict[int, FileProgress] = {}
        self.shards: dict[int, list[ShardProgress]] = {}
        self.flight: list[InFlight] = []
        self.attempts = 0
        window = int(spec.options.get("max_in_flight") or deps.config.batch_size)
        # shards in flight per replica where the backend batches: enough to fill its window, and
        # at least two, so a shard's last records never leave the model's slots idle (the next
        # shard's take them); more would only give one replica a longer tail while another idles
        self.per_replica = max(2, -(-window // deps.config.shard_records)) if window > 1 else 1
        self._next_publish = self._next_halt_check = 0.0

    def load(self) -> bool:
        """Put shards a previous claim left running back to pending; False: the job has no shards."""
        if not self.deps.store.requeue_running_shards(self.lease.lease):
            raise LeaseLost(self.job.job_id)
        self.files = {progress.file_index: progress for progress in self.deps.store.load_files(self.job.job_id)}
        self.shards = shards_by_file(self.deps.store.load_shards(self.job.job_id))
        return bool(self.shards)

    async def run(self) -> Halt | None:
        connect(self.deps.config.ray_address)
        pending = deque(shard for index in sorted(self.shards) if not self.files[index].done
                        for shard in self.shards[index] if shard.state is not ShardState.DONE)
        for index in sorted(self.shards):
            self._compose_if_done(index)  # a previous coordinator died between a file's last shard and compose
        pool = pool_for(self.spec, self.deps.config.ray_replicas)
        halt = await self._schedule(pending, pool)
        if halt in (Halt.STOP, Halt.TIMEOUT):
            self.close_open_files()
        return halt

    def close_open_files(self) -> None:
        """Compose each started, unfinished file from its contiguous done prefix (which may hold
        no shard: the file's output is then empty, as a file the in-process runner had begun)."""
        for index, progress in sorted(self.files.items()):
            shards = self.shards.get(index, [])
            if not progress.done and any(shard.state is ShardState.DONE for shard in shards):
                self._compose(index, done_prefix(shards))

    async def _schedule(self, pending: deque[ShardProgress], pool: ReplicaPool) -> Halt | None:
        while pending or self.flight:
            self._fill(pending, pool)
            waiting = [item.result for item in self.flight] + [asyncio.wrap_future(f) for f in pool.starting()]
            if waiting:
                await asyncio.wait(waiting, timeout=self.deps.config.progress_seconds,
                                   return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(self.deps.config.progress_seconds)
            for item in [item for item in self.flight if item.result.done()]:
                self.flight.remove(item)
                self._finished(item, pending, pool)
            await self._publish(pool)
            if (halt := self._halt()) is not None:
                self._cancel_flight()
                return halt
        return None

    def _fill(self, pending: deque[ShardProgress], pool: ReplicaPool) -> None:
        for replica in pool.usable():
            while pending and sum(item.replica is replica for item in self.flight) < self.per_replica:
                self._send(pending.popleft(), replica)

    def _send(self, shard: ShardProgress, replica: Replica) -> None:
        self.attempts += 1
        key = shard_key(self.output, self.job.job_id, shard.file_index, shard.shard_index, self.lease.lease.epoch,
                        self.attempts % 1000)
        running = replace(shard, state=ShardState.RUNNING, runner=replica.node_id, epoch=self.lease.lease.epoch)
        self._save(running, None)
        task = ShardTask(self.job, self.format_name, self.files[shard.file_index].input_key, running, key,
                         self.deps.config)
        ref = replica.actor.run_shard.remote(task)
        self.flight.append(InFlight(running, replica, task, ref, asyncio.wrap_future(ref.future())))

    def _finished(self, item: InFlight, pending: deque[ShardProgress], pool: ReplicaPool) -> None:
        try:
            counts = item.result.result()
        except REPLICA_LOST as error:
            log.warning("job %s: shard %d/%d lost with its replica on node %s; it runs again", self.job.job_id,
                        item.shard.file_index, item.shard.shard_index, item.shard.runner)
            self._save(replace(item.shard, state=ShardState.PENDING, runner=None), None)
            pending.appendleft(item.shard)
            pool.lost(item.replica, error)
            return
        pool.succeeded()
        done = item.shard.done(item.task.output_key, counts, item.replica.node_id, self.lease.lease.epoch)
        self._save(done, self._done_counts())
        self._compose_if_done(done.file_index)

    def _save(self, shard: ShardProgress, counts: RecordCounts | None) -> None:
        shards = self.shards[shard.file_index]
        shards[shard.shard_index] = shard
        self.lease.ensure()
        if counts is None and shard.state is ShardState.DONE:
            counts = self._done_counts()
        if not self.deps.store.save_shard(self.lease.lease, shard, counts, self.deps.clock.now()):
            raise LeaseLost(self.job.job_id)

    def _done_counts(self) -> RecordCounts:
        done = [shard.counts for shards in self.shards.values() for shard in shards if shard.state is ShardState.DONE]
        return replace(sum(done, RecordCounts()), total=self.job.counts.total)

    def _compose_if_done(self, index: int) -> None:
        shards = self.shards.get(index, [])
        if not self.files[index].done and len(done_prefix(shards)) == len(shards):
            self._compose(index, shards)

    def _compose(self, index: int, shards: list[ShardProgress]) -> None:
        progress = file_from_shards(self.files[index], shards)
        self.lease.ensure()
        self.deps.objects.compose(self.output.bucket, progress.output_key, list(progress.parts),
                                  self.job.spec.output_config.s3_encryption_key_id)
        self.files[index] = progress
        if not self.deps.store.checkpoint(self.lease.lease, progress, self._done_counts(), self.deps.clock.now()):
            raise LeaseLost(self.job.job_id)

    async def _publish(self, pool: ReplicaPool) -> None:
        """Live counts: the done shards' plus what the shards in flight have written so far."""
        if (now := time.monotonic()) < self._next_publish:
            return
        self._next_publish = now + self.deps.config.progress_seconds
        counts = self._done_counts()
        running = {item.task.name for item in self.flight}
        for replica in pool.usable():
            with contextlib.suppress(Exception):  # a dying replica's shards are counted when they run again
                progress = await asyncio.wait_for(asyncio.wrap_future(replica.actor.progress.remote().future()), 1.0)
                counts = counts + sum((c for name, c in progress.items() if name in running), RecordCounts())
        if not self.deps.store.publish_counts(self.lease.lease, replace(counts, total=self.job.counts.total),
                                              self.deps.clock.now()):
            raise LeaseLost(self.job.job_id)

    def _halt(self) -> Halt | None:
        if self.deps.shutdown.is_set():
            return Halt.SHUTDOWN
        if (now := time.monotonic()) < self._next_halt_check:
            return None
        self._next_halt_check = now + self.deps.config.progress_seconds
        self.lease.ensure()
        current = self.deps.store.get_job_by_id(self.job.job_id)
        if current is None or current.status is JobStatus.STOPPING:
            return Halt.STOP
        return Halt.TIMEOUT if self.deps.clock.now() >= self.job.expiration_time else None

    def _cancel_flight(self) -> None:
        """Cancel the shards in flight; they are pending again (left out of a stopped job)."""
        for item in self.flight:
            with contextlib.suppress(Exception):
                ray.cancel(item.ref)
            item.result.cancel()
            with contextlib.suppress(TaskCancelledError):
                self._save(replace(item.shard, state=ShardState.PENDING, runner=None), None)
        self.flight = []
