"""Shards: contiguous record ranges of one input file, the unit a scaled-out job schedules,
retries and checkpoints (``engine.ray_coordinator``).

Validating cuts every file into shards of ``--shard-records`` records as it counts them; each
shard row in the store says where the shard is: pending, running on a runner (a Ray node),
or done with its output object and counts. A job's outputs stay one ``.out`` per file: a file
is composed from its done shards' objects, in order, once they are all done.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from batchrock.jobs.model import RecordCounts


class ShardState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


@dataclass(frozen=True)
class ShardProgress:
    """One shard and where it stands. ``start``/``end``: the input bytes it covers (blank lines
    included); ``first_record``: the file's records before it (line numbers continue from it);
    ``counts.total`` is its record count."""

    file_index: int
    shard_index: int
    start: int
    end: int
    first_record: int
    counts: RecordCounts
    state: ShardState = ShardState.PENDING
    runner: str | None = None
    output_key: str | None = None
    epoch: int = 0  # the lease epoch of the last write: which claim ran it

    @property
    def record_count(self) -> int:
        return self.counts.total

    def done(self, output_key: str, counts: RecordCounts, runner: str, epoch: int) -> ShardProgress:
        return replace(self, state=ShardState.DONE, output_key=output_key, runner=runner, epoch=epoch,
                       counts=replace(counts, total=self.record_count))
