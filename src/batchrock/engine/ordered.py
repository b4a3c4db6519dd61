"""Records in flight, finishing in any order, written in input order.

``OrderedOutput`` is the reorder buffer of one input file: each block of lines read gets a
slot (a block of one line, or as many as a backend call carries: engine/blocks.py); the
block's output lines are put in its slot when its records finish, and the contiguous prefix
of filled slots moves into the part buffer. It holds the counts of that prefix and the input
offset it reaches, so a checkpoint always covers exactly the lines written before it.

``Flight`` holds the backend calls in flight (a call carries one record or several): at most
``window`` records in flight, and none admitted while the reorder buffer holds
``reorder_limit`` finished records waiting for an earlier, slower one, so memory is bounded by
the window and the part size, never by the job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

import msgspec

from batchrock.jobs.model import RecordCounts
from batchrock.jobs.store import FileProgress


class Written(msgspec.Struct, frozen=True, gc=False):
    """One slot's outcome: its output lines (None when its input lines were blank) and what they count."""

    line: bytes | None
    end: int  # the input offset just after the slot's last line
    success: int = 0  # how many of its records succeeded (a bool for a slot of one record)
    input_tokens: int = 0  # of the records that succeeded
    output_tokens: int = 0
    records: int = 1  # output lines


class OrderedOutput:
    def __init__(self, progress: FileProgress) -> None:
        self.progress = progress  # as last committed
        self.pieces: list[bytes] = []  # the lines written since the last part, a slot's at a time (joined only
        self.size = 0                  # when a part is written, off the event loop); their bytes
        self.offset = progress.input_offset
        self._slots = 0
        self._written = 0
        self._waiting: dict[int, Written] = {}
        self._held = 0  # records in ``_waiting``
        self._records = self._success = self._errors = self._input_tokens = self._output_tokens = 0

    def slot(self) -> int:
        self._slots += 1
        return self._slots - 1

    @property
    def held(self) -> int:
        """Finished records waiting for an earlier one."""
        return self._held

    def put(self, slot: int, outcome: Written) -> None:
        if slot == self._written and not self._waiting:  # in order, as most are: straight through
            self._write(outcome)
            self._written += 1
            return
        self._waiting[slot] = outcome
        self._held += outcome.records
        while self._written in self._waiting:
            ready = self._waiting.pop(self._written)
            self._held -= ready.records
            self._write(ready)
            self._written += 1

    def _write(self, outcome: Written) -> None:
        self.offset = outcome.end
        if outcome.line is None:
            return
        self.pieces.append(outcome.line)
        self.size += len(outcome.line)
        self._records += outcome.records
        self._success += outcome.success
        self._errors += outcome.records - outcome.success
        if outcome.success:  # tokens count for the records that succeeded
            self._input_tokens += outcome.input_tokens
            self._output_tokens += outcome.output_tokens

    @property
    def buffer(self) -> bytes:
        """The lines written since the last part, as one string."""
        return b"".join(self.pieces)

    def take(self) -> list[bytes]:
        """Hand over the lines written since the last part (to go into the next one), and start afresh."""
        pieces, self.pieces, self.size = self.pieces, [], 0
        return pieces

    def snapshot(self) -> FileProgress:
        """The committed progress plus the lines written since (not yet in a part)."""
        written = RecordCounts(processed=self._records, success=self._success, error=self._errors,
                               input_tokens=self._input_tokens, output_tokens=self._output_tokens)
        return self.progress.with_counts(self.progress.counts + written)

    def committed(self, progress: FileProgress) -> None:
        """The lines taken (``take``) went into a part recorded by ``progress``."""
        self.progress = progress
        self._records = self._success = self._errors = self._input_tokens = self._output_tokens = 0


class Flight:
    def __init__(self, window: int, reorder_limit: int) -> None:
        self.window = window
        self.reorder_limit = reorder_limit
        self._tasks: dict[asyncio.Task[None], int] = {}  # each call and the records it carries
        self._records = 0
        self._changed = asyncio.Event()
        self._failure: BaseException | None = None

    def start(self, work: Coroutine[object, object, None], records: int = 1) -> None:
        task = asyncio.create_task(work)
        self._tasks[task] = records
        self._records += records
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._records -= self._tasks.pop(task, 0)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
        self._changed.set()

    async def room(self, output: OrderedOutput, timeout: float, records: int = 1) -> bool:
        """Wait until ``records`` more may start; False after ``timeout`` without room."""
        def ready() -> bool:
            return (not self._tasks or self._records + records <= self.window) and output.held < self.reorder_limit
        return await self._wait(ready, timeout)

    async def drain(self, timeout: float) -> bool:
        """Wait for every record in flight; False after ``timeout`` with some still running."""
        return await self._wait(lambda: not self._tasks, timeout)

    async def _wait(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait, waking at each finished record, until ``ready()``; a failed record's error is raised."""
        while not ready():
            self._raise_failure()
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                return False
        self._raise_failure()
        return True

    async def cancel(self) -> None:
        """Stop the records in flight; they run again on resume, or are left out of a stopped job."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
