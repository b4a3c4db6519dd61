"""Cutting input files into shards while Validating counts them, and a file's output from its shards.

A shard ends after the line of its ``--shard-records``-th record; blank lines go with the shard
they fall in, so the shards of a file cover every byte of it, back to back. A file always has at
least one shard (an empty file's covers nothing and composes an empty ``.out``).

The in-process executor does not run shards: it streams each file as one range with its own
part checkpoints (engine/runner.py); its shard rows stay pending and say only how a scaled-out
run would cut the job.
"""

from __future__ import annotations

from dataclasses import replace

import numpy

from batchrock.jobs.model import RecordCounts
from batchrock.jobs.shards import ShardProgress, ShardState
from batchrock.jobs.store import FileProgress


class ShardCutter:
    def __init__(self, file_index: int, shard_records: int) -> None:
        self.file_index = file_index
        self.shard_records = max(1, shard_records)
        self.shards: list[ShardProgress] = []
        self._start = self._first = self._records = self._offset = 0

    def add(self, chunk: bytes | memoryview, terminated: bool) -> int:
        """Take a chunk of whole lines (as ``read_line_chunks`` yields them); returns its records."""
        ends = record_ends(chunk, terminated)
        completing = self._first + self.shard_records - self._records - 1  # the record that completes a shard
        for place in range(completing, len(ends), self.shard_records):
            self._cut_at(self._records + place + 1, self._offset + int(ends[place]))
        self._records += len(ends)
        self._offset += len(chunk)
        return len(ends)

    def finish(self) -> list[ShardProgress]:
        """The file's shards; what follows the last cut is a shard, or joins the last one when it
        holds only blank lines."""
        if self._records > self._first or not self.shards:
            self._cut()
        elif self._offset > self._start:
            self.shards[-1] = replace(self.shards[-1], end=self._offset)
        return self.shards

    def _cut(self) -> None:
        self._cut_at(self._records, self._offset)

    def _cut_at(self, records: int, offset: int) -> None:
        """A shard ends at ``offset``, after the line of the file's ``records``-th record."""
        self.shards.append(ShardProgress(self.file_index, len(self.shards), self._start, offset, self._first,
                                         RecordCounts(total=records - self._first)))
        self._start, self._first = offset, records


def record_ends(chunk: bytes | memoryview, terminated: bool) -> numpy.ndarray:
    """The offset just after each record's line in a chunk of whole lines (a blank line, empty or
    only whitespace, holds no record). Found in numpy's loops over the bytes: a line at a time in
    Python would cost as much as a third of examining the records."""
    data = numpy.frombuffer(chunk, numpy.uint8)
    ends = numpy.flatnonzero(data == ord("\n")) + 1
    if not terminated and chunk:
        ends = numpy.append(ends, len(chunk))
    if not len(ends):
        return ends
    starts = numpy.concatenate(([0], ends[:-1]))
    maybe_blank = data[starts] <= ord(" ")  # the line is empty, or starts with whitespace or a control byte
    for line in numpy.flatnonzero(maybe_blank):  # rare: each is looked at whole
        maybe_blank[line] = not bytes(chunk[starts[line]:ends[line]]).strip()
    return ends[~maybe_blank]


def done_prefix(shards: list[ShardProgress]) -> list[ShardProgress]:
    """A file's shards that are done, up to its first one that is not."""
    prefix = []
    for shard in shards:
        if shard.state is not ShardState.DONE:
            break
        prefix.append(shard)
    return prefix


def file_from_shards(progress: FileProgress, shards: list[ShardProgress]) -> FileProgress:
    """The file's checkpoint once composed from ``shards`` (its done prefix): their objects as its
    parts, their counts as its own, and the input offset they reach."""
    counts = sum((shard.counts for shard in shards), RecordCounts())
    return replace(progress.with_counts(replace(counts, total=progress.record_count)),
                   parts=tuple(shard.output_key or "" for shard in shards),
                   input_offset=shards[-1].end if shards else 0, done=True)


def shards_by_file(shards: list[ShardProgress]) -> dict[int, list[ShardProgress]]:
    found: dict[int, list[ShardProgress]] = {}
    for shard in shards:
        found.setdefault(shard.file_index, []).append(shard)
    return found
