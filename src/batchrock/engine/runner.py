"""The InProgress phase of one job: records flow through the backend, and are written in order.

A window of records is in flight at once (the backend's ``max_in_flight``): a call that
finishes frees its records' places for the next at once, whatever the others are doing, and a
reorder buffer writes the results in input order (engine/ordered.py). The file is read a block
of records at a time (engine/lines.py), as many as the backend takes per call
(``requests_per_call``: one for a server that answers each request on its own; an embedding
model or the zero-cost echo batch their calls themselves): a block's records are examined
together, its runnable ones go to the backend in one call, an asyncio task, and its output lines
fill one reorder slot (engine/blocks.py).

Output lines are buffered; when the buffer reaches a part's size it is written as a part
object of its own, named by the writer's lease epoch, and a checkpoint records, in one
transaction fenced by that lease, the part, the input byte offset it covers and the file's
counts. The part is written, and then its checkpoint saved, in a thread while the records after
it go on; the next part waits for both: one part at a time between buffer and checkpoint. When
the file's records are all written, its output object is composed from the parts the checkpoint
lists. After a crash the job resumes from the last checkpoint: at most two parts' worth of
records (the part in writing and the buffer after it) is run again, and none is written twice.
A worker that lost its lease may write a part object nobody will list, but never one the new
owner committed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from enum import Enum

from batchrock.backends.base import Backend
from batchrock.engine.calls import BackendCaller, BlockCall, BlockWork
from batchrock.engine.config import EngineConfig
from batchrock.engine.inputs import ids_before, part_key
from batchrock.engine.lease import HeldLease, LeaseLost
from batchrock.engine.lines import LineBlock, line_blocks
from batchrock.engine.ordered import Flight, OrderedOutput
from batchrock.formats.base import Format
from batchrock.jobs.clock import Clock
from batchrock.jobs.model import Job, JobStatus, RecordCounts
from batchrock.jobs.store import FileProgress, JobStore
from batchrock.storage.base import Location, ObjectStore

log = logging.getLogger("batchrock.engine")

# A part is written, synced and checkpointed in a thread while the records after it run; each of
# that thread's system calls ends by taking the GIL back, and at CPython's default switch interval
# (5 ms) it waited that long, every time, for the busy event loop to let go: an 8 MB part took
# 100 ms instead of 15, and the records waited for it at the next part.
GIL_SWITCH_SECONDS = 0.0005


def hand_over_the_gil_sooner() -> None:
    """A thread that wants the GIL gets it within ``GIL_SWITCH_SECONDS`` (process-wide; never made longer)."""
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_SECONDS))


class Halt(str, Enum):
    STOP = "stop"            # the user asked to stop
    TIMEOUT = "timeout"      # jobExpirationTime passed with records left
    SHUTDOWN = "shutdown"    # the process is stopping: checkpoint and leave the job to resume


class InputChanged(Exception):
    """An input file no longer holds the records it held when the job was validated."""


@dataclass
class RunDeps:
    store: JobStore
    objects: ObjectStore
    clock: Clock
    config: EngineConfig
    worker_id: str
    shutdown: threading.Event = field(default_factory=threading.Event)


def total_counts(files: list[FileProgress], total_records: int) -> RecordCounts:
    """The job's counts: the files' shares added up, with the total the job was validated with."""
    return replace(sum((progress.counts for progress in files), RecordCounts()), total=total_records)


@dataclass
class PendingPart:
    """A part being written in a thread, then checkpointed there: whether the lease still held."""

    index: int
    progress: FileProgress
    write: asyncio.Future[bool]


class JobRunner:
    def __init__(self, job: Job, files: list[FileProgress], deps: RunDeps, lease: HeldLease, fmt: Format,
                 backend: Backend) -> None:
        self.job = job
        self.backend = backend
        self.files = files
        self.deps = deps
        self.lease = lease
        self.output = Location.parse(job.spec.output_config.s3_uri)
        self.bucket = self.output.bucket
        self.source_bucket = Location.parse(job.spec.input_config.s3_uri).bucket
        self.part_bytes = deps.config.part_bytes
        self.caller = BackendCaller(backend, deps.config, self._halt_requested, f"job {job.job_id}")
        self.work = BlockWork(job, fmt, self.caller)
        self.kms_key_id = job.spec.output_config.s3_encryption_key_id
        self._next_publish = time.monotonic() + deps.config.progress_seconds  # the store has the counts it starts from
        self._next_halt_check = 0.0
        self._pending: PendingPart | None = None
        hand_over_the_gil_sooner()

    async def run(self) -> Halt | None:
        """Run every unfinished file; returns why it halted early, or None when all records ran."""
        for index, progress in enumerate(self.files):
            if progress.done:
                continue
            halt = await self._run_file(index)
            if halt is not None:
                return halt
        return None

    def counts(self) -> RecordCounts:
        return total_counts(self.files, self.job.counts.total)

    async def _run_file(self, index: int) -> Halt | None:
        progress = self.files[index]
        seen = ids_before(self.deps.objects, self.source_bucket, progress.input_key, progress.input_offset,
                          self.job.job_id, progress.file_index)
        output = OrderedOutput(progress)
        flight = Flight(self.caller.window, max(4 * self.caller.window, 64))
        stream = self.deps.objects.open_read(self.source_bucket, progress.input_key, progress.input_offset)
        self.lease.ensure()
        with closing(stream), closing(line_blocks(stream, progress.input_offset, self.caller.call_size)) as blocks:
            try:
                halt = await self._admit_all(index, blocks, output, flight, seen)
                if halt is None:
                    halt = await self._wait_for_flight(index, output, flight)
            except BaseException:
                self._drop_pending()
                raise
            finally:
                await flight.cancel()
        await self._settle()
        if halt is Halt.SHUTDOWN:
            self._commit(index, output)
            return halt
        self._finish_file(index, output.snapshot(), output.take(), output.offset)
        return halt

    async def _admit_all(self, index: int, blocks: Iterator[tuple[LineBlock, int]], output: OrderedOutput,
                         flight: Flight, seen: set[str]) -> Halt | None:
        """Start every block of the file in order, as the window and the reorder buffer allow."""
        progress = self.files[index]
        number = progress.records_done
        for lines, end in blocks:
            block = self.work.examine(progress.file_index, lines, number, seen)
            number += len(block.ids)
            if (halt := await self._start(index, output, flight, BlockCall(output.slot(), block, end))) is not None:
                return halt
        if number != progress.record_count:
            raise InputChanged(f"The input s3://{self.source_bucket}/{progress.input_key} changed while the job "
                               f"ran: it held {progress.record_count} records when validated and {number} now.")
        return None

    async def _start(self, index: int, output: OrderedOutput, flight: Flight, call: BlockCall) -> Halt | None:
        """Launch the block's call; a block with nothing that can run has its error lines ready now."""
        if call.block.requests:
            return await self._launch(index, output, flight, call)
        self.work.put_refused(output, call)
        return await self._between_records(index, output)

    async def _launch(self, index: int, output: OrderedOutput, flight: Flight, call: BlockCall) -> Halt | None:
        """Start a call once the window has room for it; first commit, publish, and check for a halt."""
        while not await flight.room(output, self.deps.config.progress_seconds, len(call.block.requests)):
            if (halt := await self._between_records(index, output)) is not None:
                return halt
        if (halt := await self._between_records(index, output)) is not None:
            return halt
        flight.start(self.work.answer(output, call), len(call.block.requests))
        return None

    async def _wait_for_flight(self, index: int, output: OrderedOutput, flight: Flight) -> Halt | None:
        while not await flight.drain(self.deps.config.progress_seconds):
            if (halt := await self._between_records(index, output)) is not None:
                return halt
        return None

    async def _between_records(self, index: int, output: OrderedOutput) -> Halt | None:
        """Checkpoint a part once written, start writing a full one, publish counts, and say
        whether the job must halt."""
        if self._pending is not None and self._pending.write.done():
            await self._settle()
        if output.size >= self.part_bytes:
            await self._write_part(index, output)
        elif (now := time.monotonic()) >= self._next_publish:
            self._next_publish = now + self.deps.config.progress_seconds
            self.files[index] = output.snapshot()
            self._publish()
        if self.deps.shutdown.is_set():
            return Halt.SHUTDOWN
        return self._check_halt()

    def close_open_files(self) -> None:
        """Compose the output of files a crashed run left part-way, from the parts it committed."""
        for index, progress in enumerate(self.files):
            if progress.parts and not progress.done:
                self._finish_file(index, progress, [], progress.input_offset)

    def _halt_requested(self) -> bool:
        return self.deps.shutdown.is_set() or self.lease.lost or self._halt_reason() is not None

    async def _write_part(self, index: int, output: OrderedOutput) -> None:
        """The written prefix becomes a part, written in a thread while the records after it go on
        (the part before it checkpointed first)."""
        await self._settle()
        key, progress = self._with_next_part(output.snapshot())
        progress = replace(progress, input_offset=output.offset)
        pieces = output.take()  # handed to the writer, which joins them
        output.committed(progress)
        files = list(self.files)
        files[index] = progress
        write = asyncio.ensure_future(asyncio.to_thread(self._store_part, key, pieces, progress,
                                                        total_counts(files, self.job.counts.total)))
        self._pending = PendingPart(index, progress, write)

    def _store_part(self, key: str, pieces: list[bytes], progress: FileProgress, counts: RecordCounts) -> bool:
        """In a thread: write the part (its lines joined there, not on the event loop), then the
        checkpoint that lists it (its commit and fsync off the event loop too); False when the lease was lost."""
        self.deps.objects.put_object(self.bucket, key, b"".join(pieces), self.kms_key_id)
        if not self.deps.store.checkpoint(self.lease.lease, progress, counts, self.deps.clock.now()):
            return False
        precompose = getattr(self.deps.objects, "precompose", None)  # copy the committed parts ahead of the compose
        if precompose is not None:
            precompose(self.bucket, progress.output_key, list(progress.parts))
        return True

    async def _settle(self) -> None:
        """Wait for the part in writing and its checkpoint."""
        if self._pending is not None:
            pending = self._pending
            committed = await pending.write
            self._pending = None
            self.files[pending.index] = pending.progress
            if not committed:
                raise LeaseLost(self.job.job_id)

    def _drop_pending(self) -> None:
        """The file's run ends by an error: a part still in writing is left unlisted (its records
        run again, as after a crash)."""
        if self._pending is not None:
            self._pending.write.cancel()
            self._pending = None

    def _commit(self, index: int, output: OrderedOutput) -> None:
        """The written prefix becomes a part, checkpointed with the input offset it reaches."""
        output.committed(self._commit_part(index, output.snapshot(), output.take(), output.offset))

    def _commit_part(self, index: int, progress: FileProgress, pieces: list[bytes], offset: int) -> FileProgress:
        if pieces:
            key, with_part = self._with_next_part(progress)
            self.deps.objects.put_object(self.bucket, key, b"".join(pieces), self.kms_key_id)
            progress = with_part
        return self._save(index, replace(progress, input_offset=offset))

    def _with_next_part(self, progress: FileProgress) -> tuple[str, FileProgress]:
        """The next part's key (named by this writer's lease epoch), and the progress that lists it."""
        self.lease.ensure()
        key = part_key(self.output, self.job.job_id, progress.file_index, self.lease.lease.epoch, len(progress.parts) + 1)
        return key, replace(progress, parts=(*progress.parts, key))

    def _finish_file(self, index: int, progress: FileProgress, pieces: list[bytes], offset: int) -> None:
        """Commit what is buffered and compose the file's output object (also when the job halts)."""
        progress = self._commit_part(index, progress, pieces, offset)
        self.lease.ensure()
        self.deps.objects.compose(self.bucket, progress.output_key, list(progress.parts), self.kms_key_id)
        self._save(index, replace(progress, done=True))

    def _save(self, index: int, progress: FileProgress) -> FileProgress:
        self.files[index] = progress
        if not self.deps.store.checkpoint(self.lease.lease, progress, self.counts(), self.deps.clock.now()):
            raise LeaseLost(self.job.job_id)
        return progress

    def _publish(self) -> None:
        """Live counts for Get/List between checkpoints (the checkpoint holds the resumable truth)."""
        if not self.deps.store.publish_counts(self.lease.lease, self.counts(), self.deps.clock.now()):
            raise LeaseLost(self.job.job_id)

    def _check_halt(self) -> Halt | None:
        """Every progress interval: has the user stopped the job, or has its time run out?"""
        now = time.monotonic()
        if now < self._next_halt_check:
            return None
        self._next_halt_check = now + self.deps.config.progress_seconds
        self.lease.ensure()
        return self._halt_reason()

    def _halt_reason(self) -> Halt | None:
        current = self.deps.store.get_job_by_id(self.job.job_id)
        if current is None or current.status is JobStatus.STOPPING:
            return Halt.STOP
        if self.deps.clock.now() >= self.job.expiration_time:
            return Halt.TIMEOUT
        return None
