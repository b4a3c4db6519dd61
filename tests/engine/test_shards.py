"""Cutting a file into shards as Validating counts it: back to back, every byte covered."""

from __future__ import annotations

from io import BytesIO
from itertools import pairwise

from batchrock.engine.shards import ShardCutter
from batchrock.storage.base import read_line_blocks


def cut(data: bytes, size: int, chunk: int = 7) -> list[tuple[int, int, int, int]]:
    cutter = ShardCutter(0, size)
    records = sum(cutter.add(lines, ended) for lines, ended in read_line_blocks(BytesIO(data), chunk))
    shards = cutter.finish()
    assert records == sum(shard.record_count for shard in shards)
    assert shards[0].start == 0 and shards[-1].end == len(data)
    assert all(a.end == b.start for a, b in pairwise(shards))
    return [(shard.start, shard.end, shard.first_record, shard.record_count) for shard in shards]


def test_shards_end_after_their_last_record_and_blank_lines_go_with_the_next() -> None:
    data = b"a\nb\n\nc\nd\ne"  # no newline at the end
    assert cut(data, 2) == [(0, 4, 0, 2), (4, 9, 2, 2), (9, 10, 4, 1)]
    assert cut(data, 5) == [(0, 10, 0, 5)]
    assert cut(data, 100, chunk=1 << 20) == [(0, 10, 0, 5)]


def test_trailing_blank_lines_join_the_last_shard_and_an_empty_file_has_one() -> None:
    assert cut(b"a\nb\n\n\n", 2) == [(0, 6, 0, 2)]
    assert cut(b"", 3) == [(0, 0, 0, 0)]
    assert cut(b"\n\n", 3) == [(0, 2, 0, 0)]
