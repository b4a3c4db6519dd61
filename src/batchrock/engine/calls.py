"""A job's blocks of records, examined, sampled and answered: the same rules wherever they run.

Shared by the in-process runner and a scaled-out shard run. ``BlockWork`` examines a block of
lines (``validate.examine_block``), gives its requests the job's sampling, and turns a backend
call's answers into the block's output lines. ``BackendCaller`` calls the backend with the rules
of README, "When things go wrong": transient errors are retried per record with backoff; when the
whole batch keeps failing and the backend says it is busy or unreachable, or fails its health
probe, the call pauses and tries again (up to ``backend_outage_seconds``) rather than turning
records into errors, until ``halted()`` says the run is ending.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from batchrock.backends.base import Backend, BackendError, BackendFailed, GenerationRequest, GenerationResult
from batchrock.backoff import backoff, jittered
from batchrock.catalog import bare_model_id
from batchrock.engine.blocks import RecordBlock, all_results
from batchrock.engine.config import EngineConfig
from batchrock.engine.lines import LineBlock
from batchrock.engine.ordered import OrderedOutput
from batchrock.engine.validate import examine_block
from batchrock.formats.base import Format, renderer_of
from batchrock.formats.sampling import Sampling
from batchrock.jobs.model import Job

log = logging.getLogger("batchrock.engine")

Outcomes = list[GenerationResult | BackendError]


@dataclass
class BlockCall:
    """A block of records bound for one backend call: its reorder slot, and where it ends in the input."""

    slot: int
    block: RecordBlock
    end: int


class BlockWork:
    def __init__(self, job: Job, fmt: Format, caller: BackendCaller) -> None:
        self.job_id, self.model_id = job.job_id, job.spec.model_id
        self.fmt = fmt
        self.render = renderer_of(fmt)
        self.sampling = Sampling(bare_model_id(job.spec.model_id), job.spec.job_name)
        self.caller = caller

    def examine(self, file_index: int, lines: LineBlock, number: int, seen: set[str]) -> RecordBlock:
        """The block's records (``number``: the records of the file before it), its runnable ones'
        requests completed with the job's sampling."""
        return examine_block(self.job_id, file_index, lines, number, self.fmt, seen,
                             self.caller.config.max_record_bytes, self.sampling)

    def put_refused(self, output: OrderedOutput, call: BlockCall) -> None:
        """A block with no record that can run: its error lines, ready now."""
        output.put(call.slot, call.block.written([], self.render, self.model_id, call.end))

    async def answer(self, output: OrderedOutput, call: BlockCall) -> None:
        """Call the backend for the block's runnable records and put its output lines in its slot."""
        answers = await self.caller.generate(call.block.requests)
        output.put(call.slot, call.block.written(answers, self.render, self.model_id, call.end))


class BackendCaller:
    def __init__(self, backend: Backend, config: EngineConfig, halted: Callable[[], bool], label: str) -> None:
        self.backend = backend
        self.config = config
        self.halted = halted
        self.label = label  # names the job in log lines
        # records in flight: the backend's own limit (what it batches at once), else --batch-size
        self.window = max(1, int(getattr(backend, "max_in_flight", 0) or config.batch_size))
        self.call_size = max(1, min(self.window, int(getattr(backend, "requests_per_call", 1))))
        self._probe_until = 0.0
        self._probe_result = True

    async def generate(self, requests: list[GenerationRequest]) -> Outcomes:
        """Run a batch with per-record retries; while the backend looks down, pause rather than fail."""
        results = await self._generate_with_retries(requests)
        paused_until = time.monotonic() + self.config.backend_outage_seconds
        delays = backoff(self.config.retry_base_seconds, cap=15.0)
        while await self._backend_down(results) and time.monotonic() < paused_until and not self.halted():
            delay = next(delays)
            log.warning("%s: backend unavailable (%s); pausing %.1f s", self.label, results[0], delay)
            await asyncio.sleep(jittered(delay))
            results = await self._generate_with_retries(requests)
        return results

    async def _backend_down(self, results: Outcomes) -> bool:
        """The whole batch failed with transient errors, and the backend, not its records, is why:
        it said it is busy or unreachable, or it fails its health probe. A record the backend keeps
        failing while it is healthy becomes an error record instead of pausing the job."""
        if not results or not all(isinstance(r, BackendError) and r.retryable for r in results):
            return False
        if all(isinstance(r, BackendError) and r.unavailable for r in results):
            return True
        return not await self._probe()

    async def _probe(self) -> bool:
        """The backend's health probe, asked at most once a second for all the records in flight."""
        probe = getattr(self.backend, "healthy", None)
        if probe is None:
            return True
        now = time.monotonic()
        if now >= self._probe_until:
            self._probe_until = now + 1.0
            self._probe_result = await probe()
        return self._probe_result

    async def _generate_with_retries(self, requests: list[GenerationRequest]) -> Outcomes:
        results = await self._call_backend(requests)
        if all_results(results):
            return results
        for delay in islice(backoff(self.config.retry_base_seconds), self.config.retries):
            again = [i for i, result in enumerate(results) if isinstance(result, BackendError) and result.retryable]
            if not again:
                break
            await asyncio.sleep(jittered(delay, 0.5, 1.5))
            for i, result in zip(again, await self._call_backend([requests[i] for i in again]), strict=True):
                results[i] = result
        return results

    async def _call_backend(self, requests: list[GenerationRequest]) -> Outcomes:
        try:
            return await self.backend.generate(requests)
        except BackendFailed:
            raise
        except BackendError as error:
            return [error] * len(requests)
        except Exception as error:  # a backend crash fails these records, never the job
            return [BackendError(f"backend error: {error}", status=500, retryable=True)] * len(requests)
