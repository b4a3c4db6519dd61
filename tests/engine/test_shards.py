"""Cutting a file into shards as Validating counts it: back to back, every byte covered."""

from __future__ import annotations

import json
import random
from io import BytesIO
from itertools import accumulate, pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchrock.engine.inputs import IdsBefore, ids_before
from batchrock.engine.shards import ShardCutter
from batchrock.storage.base import read_line_chunks
from batchrock.storage.local import LocalObjectStore


def cut(data: bytes, size: int, chunk: int = 7) -> list[tuple[int, int, int, int]]:
    cutter = ShardCutter(0, size)
    records = sum(cutter.add(lines, ended) for lines, ended in read_line_chunks(BytesIO(data), chunk))
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


def expected_cuts(data: bytes, size: int) -> list[tuple[int, int, int, int]]:
    """The cuts, found line by line: a shard ends after the line of its size-th record."""
    cuts, start, first, records, offset = [], 0, 0, 0, 0
    *ended, last = data.split(b"\n")  # lines end at a newline only (not at the other ends splitlines knows)
    for line in [line + b"\n" for line in ended] + ([last] if last else []):
        offset += len(line)
        if line.strip():
            records += 1
            if records - first == size:
                cuts.append((start, offset, first, size))
                start, first = offset, records
    if records > first or not cuts:
        cuts.append((start, len(data), first, records - first))
    else:
        cuts[-1] = (*cuts[-1][:1], len(data), *cuts[-1][2:])
    return cuts


@pytest.mark.parametrize("blank_share", [0.0, 0.1])
def test_blocks_with_and_without_blank_lines_cut_where_counting_line_by_line_does(blank_share: float) -> None:
    chance = random.Random(7)
    for _ in range(30):
        lines = [b"" if chance.random() < blank_share else b"r" * chance.randrange(1, 9)
                 for _ in range(chance.randrange(0, 60))]
        data = b"\n".join(lines) + (b"\n" if chance.random() < 0.5 else b"")
        for size in (1, 2, 3, 7, 50):
            assert cut(data, size, chunk=chance.choice([1, 5, 16, 1 << 20])) == expected_cuts(data, size)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"", b" ", b"\t", b"\r", b"\x0b\x0c", b" {}", b"\x00", b"x", b"xy ", b"a\rb", b"{\"a\": 1}"]),
                max_size=30), st.booleans(), st.integers(1, 7), st.integers(1, 9))
def test_any_lines_in_any_chunks_cut_where_counting_line_by_line_does(lines: list[bytes], ended: bool, size: int,
                                                                      chunk: int) -> None:
    data = b"\n".join(lines) + (b"\n" if ended and lines else b"")
    assert cut(data, size, chunk) == expected_cuts(data, size)


def test_record_ids_before_a_shard_are_read_on_from_the_last_one_asked(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    lines = [json.dumps({"recordId": f"R{i}", "modelInput": {}}).encode() for i in range(6)]
    data = b"\n".join(lines[:3]) + b"\n\n" + b"\n".join(lines[3:]) + b"\n"
    store.put_object("bucket", "in/a.jsonl", data)
    ids = IdsBefore(store, "bucket", "in/a.jsonl", "job", 0)
    offsets = [0, *accumulate(len(line) + 1 for line in data.split(b"\n")[:-1])]
    assert ids.upto(offsets[2]) == {"R0", "R1"}
    seen = ids.upto(offsets[5])  # past the blank line
    assert seen == {"R0", "R1", "R2", "R3"}
    seen.add("mine")  # the caller's own set
    assert ids.upto(offsets[1]) == {"R0"}  # a shard run again starts over
    assert ids.upto(offsets[7]) == {f"R{i}" for i in range(6)}
    assert ids.upto(offsets[7]) == ids_before(store, "bucket", "in/a.jsonl", offsets[7], "job", 0)
