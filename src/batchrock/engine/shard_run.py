"""Running one shard's records, where its replica is (a Ray actor): the engine's own record rules.

A shard run reads its byte range of the input file, examines each record with the rules the
in-process runner uses (``calls.BlockWork``: ``validate.examine_block``, the job's sampling seeds,
the format's rendering), keeps a window of records in flight on the backend, writes the results in input
order into one output object named by the shard, the coordinator's lease epoch and the attempt,
and returns the shard's counts. It writes nothing to the job store: the coordinator, which holds
the job's lease, records the shard done (fenced) and lists its object, so an attempt the
coordinator gave up on (its node was lost) can write an object nobody ever composes.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass

from batchrock.backends.base import Backend
from batchrock.engine.calls import BackendCaller, BlockCall, BlockWork
from batchrock.engine.config import EngineConfig
from batchrock.engine.lines import LineBlock, line_blocks
from batchrock.engine.ordered import Flight, OrderedOutput
from batchrock.engine.runner import InputChanged
from batchrock.formats.base import Format
from batchrock.formats.converse import CONVERSE
from batchrock.formats.registry import format_named
from batchrock.jobs.model import Job, RecordCounts
from batchrock.jobs.shards import ShardProgress
from batchrock.jobs.store import FileProgress
from batchrock.storage.base import Location, ObjectStore, byte_range


@dataclass(frozen=True)
class ShardTask:
    job: Job
    format_name: str
    input_key: str
    shard: ShardProgress
    output_key: str  # this attempt's object
    config: EngineConfig

    @property
    def name(self) -> str:
        return self.output_key


def format_of(name: str) -> Format:
    return CONVERSE if name == CONVERSE.name else format_named(name)


class ShardRun:
    def __init__(self, task: ShardTask, backend: Backend, objects: ObjectStore, seen: set[str]) -> None:
        """``seen``: the recordIds of the file's lines before the shard (``inputs.IdsBefore``)."""
        self.task = task
        self.job = task.job
        self.objects = objects
        self.caller = BackendCaller(backend, task.config, lambda: False, f"job {self.job.job_id}")
        self.work = BlockWork(self.job, format_of(task.format_name), self.caller)
        shard = task.shard
        self.seen = seen
        self.output = OrderedOutput(FileProgress(shard.file_index, task.input_key, task.output_key,
                                                 shard.record_count, input_offset=shard.start))

    def counts(self) -> RecordCounts:
        """What the shard has written so far (its records in order, not those still in flight)."""
        return self.output.snapshot().counts

    async def run(self) -> RecordCounts:
        flight = Flight(self.caller.window, max(4 * self.caller.window, 64))
        try:
            await self._admit_all(flight)
            while not await flight.drain(1.0):
                pass
        finally:
            await flight.cancel()
        output_bucket = Location.parse(self.job.spec.output_config.s3_uri).bucket
        self.objects.put_object(output_bucket, self.task.output_key, self.output.buffer,
                                self.job.spec.output_config.s3_encryption_key_id)
        return self.counts()

    def _blocks(self) -> Generator[tuple[LineBlock, int], None, None]:
        shard, bucket = self.task.shard, Location.parse(self.job.spec.input_config.s3_uri).bucket
        stream = self.objects.open_read(bucket, self.task.input_key, shard.start)
        return line_blocks(byte_range(stream, shard.end - shard.start), shard.start, self.caller.call_size)

    async def _admit_all(self, flight: Flight) -> None:
        shard = self.task.shard
        number = shard.first_record
        with closing(self._blocks()) as blocks:
            for lines, end in blocks:
                block = self.work.examine(shard.file_index, lines, number, self.seen)
                number += len(block.ids)
                call = BlockCall(self.output.slot(), block, end)
                if block.requests:
                    await self._launch(flight, call)
                else:
                    self.work.put_refused(self.output, call)
        if number - shard.first_record != shard.record_count:
            raise InputChanged(f"The input {self.task.input_key} changed while the job ran: shard "
                               f"{shard.shard_index} held {shard.record_count} records when validated and "
                               f"{number - shard.first_record} now.")

    async def _launch(self, flight: Flight, call: BlockCall) -> None:
        while not await flight.room(self.output, 1.0, len(call.block.requests)):
            pass
        flight.start(self.work.answer(self.output, call), len(call.block.requests))
