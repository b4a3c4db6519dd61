"""The reorder buffer and the window, on their own: results put in any order come out in input
order with the counts of exactly the prefix written, and the window counts records, not calls,
and admits nothing while the reorder buffer is full."""

from __future__ import annotations

import asyncio
import random

from batchrock.engine.ordered import Flight, OrderedOutput, Written
from batchrock.jobs.store import FileProgress


def progress() -> FileProgress:
    return FileProgress(0, "in/a.jsonl", "out/a.jsonl.out", 100)


def test_results_in_any_order_are_written_in_input_order() -> None:
    output = OrderedOutput(progress())
    slots = [output.slot() for _ in range(50)]
    order = slots[:]
    random.Random(7).shuffle(order)
    written_offsets = []
    for slot in order:
        blank = slot % 10 == 9
        output.put(slot, Written(None if blank else f"{slot}\n".encode(), (slot + 1) * 10, slot % 3 != 0, 2, 5))
        written_offsets.append(output.offset)
    assert output.buffer.decode().split() == [str(s) for s in slots if s % 10 != 9]
    assert output.held == 0 and output.offset == 500
    assert written_offsets == sorted(written_offsets)  # the checkpointable offset never moves back
    snap = output.snapshot()
    records = [s for s in slots if s % 10 != 9]
    assert snap.records_done == len(records) == 45
    assert snap.success == sum(1 for s in records if s % 3 != 0)
    assert snap.errors == snap.records_done - snap.success
    assert (snap.input_tokens, snap.output_tokens) == (2 * snap.success, 5 * snap.success)


def test_a_slow_first_record_holds_the_prefix_but_not_the_others() -> None:
    output = OrderedOutput(progress())
    first, *rest = [output.slot() for _ in range(4)]
    for slot in rest:
        output.put(slot, Written(b"x\n", slot + 1, True))
    assert output.held == 3 and output.buffer == b"" and output.snapshot().records_done == 0
    output.put(first, Written(b"first\n", 1, True))
    assert output.held == 0 and output.buffer == b"first\nx\nx\nx\n" and output.offset == 4


def test_the_window_counts_records_and_the_full_reorder_buffer_stops_admission() -> None:
    async def scenario() -> None:
        output = OrderedOutput(progress())
        flight = Flight(window=8, reorder_limit=2)
        release = asyncio.Event()

        async def call() -> None:
            await release.wait()

        flight.start(call(), records=5)
        assert await flight.room(output, 0.01, records=3)
        assert not await flight.room(output, 0.01, records=4)  # 5 + 4 > 8
        late = [output.slot() for _ in range(3)]
        for slot in late[1:]:
            output.put(slot, Written(b"y\n", slot + 1, True))
        assert output.held == 2
        assert not await flight.room(output, 0.01, records=1)  # the reorder buffer is full
        output.put(late[0], Written(b"y\n", 1, True))
        release.set()
        assert await flight.drain(1.0)
        assert await flight.room(output, 0.01, records=8)

    asyncio.run(scenario())


def test_one_call_larger_than_the_window_still_runs_alone() -> None:
    async def scenario() -> None:
        flight = Flight(window=4, reorder_limit=64)
        assert await flight.room(OrderedOutput(progress()), 0.01, records=16)

    asyncio.run(scenario())
