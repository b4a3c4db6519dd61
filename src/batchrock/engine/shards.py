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
from itertools import accumulate

from batchrock.jobs.model import RecordCounts
from batchrock.jobs.shards import ShardProgress, ShardState
from batchrock.jobs.store import FileProgress


class ShardCutter:
    def __init__(self, file_index: int, shard_records: int) -> None:
        self.file_index = file_index
        self.shard_records = max(1, shard_records)
        self.shards: list[ShardProgress] = []
        self._start = self._first = self._records = self._offset = 0

    def add(self, lines: list[bytes], terminated: bool) -> int:
        """Take one block of lines (as ``read_line_blocks`` yields them); returns its records."""
        count = sum(map(bool, map(bytes.strip, lines)))  # at C speed: most blocks hold no cut
        if self._records + count < self._first + self.shard_records:
            self._records += count
            self._offset += sum(map(len, lines)) + len(lines) * terminated
            return count
        if count == len(lines):
            self._add_records(lines, terminated)
            return count
        for line in lines:
            self._offset += len(line) + terminated
            if line.strip():
                self._records += 1
                if self._records - self._first == self.shard_records:
                    self._cut()
        return count

    def _add_records(self, lines: list[bytes], terminated: bool) -> None:
        """``add`` for a block with no blank line, where each line is the next record: the cuts fall
        every ``shard_records`` lines, and the offsets come from the lines' lengths summed in C."""
        start_offset, start_records = self._offset, self._records
        ends = list(accumulate(map(len, lines)))
        line = self._first + self.shard_records - start_records  # the line that completes the next shard
        while line <= len(lines):
            self._records, self._offset = start_records + line, start_offset + ends[line - 1] + line * terminated
            self._cut()
            line += self.shard_records
        self._records, self._offset = start_records + len(lines), start_offset + ends[-1] + len(lines) * terminated

    def finish(self) -> list[ShardProgress]:
        """The file's shards; what follows the last cut is a shard, or joins the last one when it
        holds only blank lines."""
        if self._records > self._first or not self.shards:
            self._cut()
        elif self._offset > self._start:
            self.shards[-1] = replace(self.shards[-1], end=self._offset)
        return self.shards

    def _cut(self) -> None:
        records = self._records - self._first
        self.shards.append(ShardProgress(self.file_index, len(self.shards), self._start, self._offset, self._first,
                                         RecordCounts(total=records)))
        self._start, self._first = self._offset, self._records


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
