"""Calling a backend for a block of records: per-record retries, and a pause while the backend is down.

Shared by the in-process runner and a scaled-out shard run, so both follow the same rules
(README, "When things go wrong"): transient errors are retried per record with backoff; when the
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
from batchrock.engine.blocks import RecordBlock, all_results
from batchrock.engine.config import EngineConfig

log = logging.getLogger("batchrock.engine")

Outcomes = list[GenerationResult | BackendError]


@dataclass
class BlockCall:
    """A block of records bound for one backend call: its reorder slot, and where it ends in the input."""

    slot: int
    block: RecordBlock
    end: int


class BackendCaller:
    def __init__(self, backend: Backend, config: EngineConfig, halted: Callable[[], bool], label: str) -> None:
        self.backend = backend
        self.config = config
        self.halted = halted
        self.label = label  # names the job in log lines
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
