"""Backend metrics without touching the engine or a backend: a proxy around each shared backend.

``Runtime`` hands ``instrument`` to the backend registry, which wraps every backend instance it
shares out (``BackendRegistry.backend_for``). The proxy times each ``generate`` call (and each
request of a continuously batching backend, from ``admit`` to the ``step`` that ends it), keeps
the requests in flight, and counts the answers by outcome. Its work is per call, not per record:
two lock-guarded updates of its ``BackendStats`` a call, however many records the call
carries; the one pass over the results looks for errors and nothing else.

Records and tokens by model are not counted here: a record retried three times is three
answers here but one record, and records refused before any backend call (bad JSON, a
duplicate recordId) never pass through. Those totals come from the job store's counts, the
ones Get and the manifest report (``store_metrics``).

The proxy stands in for the backend everywhere: any other attribute is the backend's own
(``max_in_flight``, ``requests_per_call``, ``healthy`` only where the backend has one), its
``__class__`` is the backend's (so ``isinstance`` against the backend's class holds), and it is
a ``ContinuousBackend`` exactly when the backend is.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, cast

from batchrock.backends.base import (
    Backend,
    BackendError,
    BackendFailed,
    BackendOptions,
    ContinuousBackend,
    GenerationRequest,
    GenerationResult,
)
from batchrock.observability.backend_stats import BackendStats, stats_for

Answer = GenerationResult | BackendError


def backend_model(name: str, options: BackendOptions) -> str:
    """The model a backend serves, as a label: a server's model name, a local model's file name."""
    served = getattr(options, "model", None)
    if isinstance(served, str) and served:
        return served
    path = getattr(options, "model_path", None)
    return Path(path).name if isinstance(path, str) and path else name


def instrument(name: str, options: BackendOptions, backend: Backend) -> Backend:
    stats = stats_for(name, backend_model(name, options))
    if isinstance(backend, ContinuousBackend):
        return InstrumentedContinuousBackend(backend, stats)
    return InstrumentedBackend(backend, stats)


def outcomes(results: Sequence[Answer]) -> tuple[int, int, int]:
    """(ok, error, unavailable) among a call's answers."""
    if list(map(type, results)).count(GenerationResult) == len(results):  # all good: counted in C, ~3x a Python loop
        return len(results), 0, 0
    errors = [result for result in results if isinstance(result, BackendError)]
    unavailable = sum(1 for error in errors if error.unavailable)
    return len(results) - len(errors), len(errors) - unavailable, unavailable


class InstrumentedBackend:
    def __init__(self, inner: Backend, stats: BackendStats) -> None:
        self._inner = inner
        self.name = inner.name
        self._stats = stats

    # isinstance falls back on __class__ when the type does not match: the proxy passes for the backend
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._inner)

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":  # not set yet (a copy being built): no recursion through the lookup below
            raise AttributeError(name)
        value = getattr(self._inner, name)
        return self._probe(value) if name == "healthy" else value

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Answer]:
        count = len(requests)
        self._stats.started(count)
        started = time.perf_counter()
        try:
            results = await self._inner.generate(requests)
        except BaseException as error:
            self._stats.ended(count, None, *_raised(count, error))
            raise
        self._stats.ended(count, time.perf_counter() - started, *outcomes(results))
        return results

    def close(self) -> None:
        self._inner.close()

    def _probe(self, probe: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
        async def healthy() -> bool:
            up = await probe()
            self._stats.probed(up)
            return up

        return healthy


def _raised(count: int, error: BaseException) -> tuple[int, int, int]:
    """How a call that raised counts: the backend unavailable, the engine's error records, or (cancelled) nothing."""
    if isinstance(error, BackendFailed) or (isinstance(error, BackendError) and error.unavailable):
        return 0, 0, count
    return (0, count, 0) if isinstance(error, Exception) else (0, 0, 0)


class InstrumentedContinuousBackend(InstrumentedBackend):
    """A continuously batching backend: each request is timed from its admission to its last step."""

    def __init__(self, inner: Backend, stats: BackendStats) -> None:
        super().__init__(inner, stats)
        self._continuous = cast(ContinuousBackend, inner)
        self._admitted: dict[Hashable, float] = {}

    @property
    def busy(self) -> bool:
        return self._continuous.busy

    def free_slots(self) -> int:
        return self._continuous.free_slots()

    def admit(self, key: Hashable, request: GenerationRequest) -> BackendError | None:
        refused = self._continuous.admit(key, request)
        if refused is None:
            self._admitted[key] = time.perf_counter()
            self._stats.started(1)
        else:
            self._stats.ended(0, None, *outcomes([refused]))
        return refused

    def step(self) -> list[tuple[Hashable, Answer]]:
        ended = self._continuous.step()
        now = time.perf_counter()
        for key, result in ended:
            started = self._admitted.pop(key, None)
            self._stats.ended(0 if started is None else 1, None if started is None else now - started, *outcomes([result]))
        return ended
