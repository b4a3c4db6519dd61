"""``echo``: a deterministic, zero-cost test backend (labelled as such; never a default for real models).

It answers with the words of the last user message (or prompt), cut to ``max_tokens``
words, counting one token per word; embeddings are a hash of the input. Benchmarks use it to
measure the engine without a model, tests to make jobs fast and predictable.

It runs in the server's process unless the catalog says ``hosted = true``; then tests can
crash its model host on demand, as a native crash in a real model would:
``crash_marker = "TEXT"`` (a request whose text holds it kills the host with SIGSEGV, every
time), ``crash_on_request = N`` (the Nth request a host process sees, counted per process, so
the fresh host does not crash on the retry), ``crash_at_start = true`` (the host dies while
starting).

``sample = true`` makes it answer as a sampling model would: each process draws its own
extra words, and fails about ``error_rate`` of the records at random, so two processes give
different outputs and counts for the same record (the lease-fencing tests need that).
``jitter_seconds`` adds a random delay to each request, so records finish out of order.
``max_in_flight`` is how many records a job keeps in flight on it (its delay is per request,
so it is also how many it serves at once). ``requests_per_call`` is how many requests a job
hands it in one call: 64 by default, as a batching embedding model takes them, but 1 when it
has a delay or jitter, as a server answers each request on its own.

``constant_answer = "TEXT"`` answers every generation request with that text instead (end of
turn, its words counted as tokens, nothing read from the request): a backend whose answers cost
nothing at all, for measuring the engine alone (bench/engine_throughput.py).

``continuous = true`` makes it batch continuously, as llama.cpp does (``base.ContinuousBackend``):
``parallel`` slots (default 4), a request holding one for as many steps (``delay_seconds``
each) as the words it answers, and answered, or crashing the host, at its last step; so its
model host admits and answers requests one by one, as it does for a real model.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import random
import signal
import sys
import time
from collections.abc import Hashable, Sequence
from operator import attrgetter

from batchrock.backends.base import (
    BackendError,
    BackendOptions,
    Factory,
    GenerationRequest,
    GenerationResult,
    RequestKind,
    StopReason,
)

# looking up an Enum member costs more than a global, on the per-request path
_EMBEDDING, _LENGTH, _END = RequestKind.EMBEDDING, StopReason.LENGTH, StopReason.END
_KIND = attrgetter("kind")


class EchoOptions(BackendOptions, frozen=True):
    delay_seconds: float = 0.0
    jitter_seconds: float = 0.0
    fail_marker: str = "ECHO_FAIL"
    crash_marker: str | None = None
    crash_on_request: int = 0
    crash_at_start: bool = False
    sample: bool = False
    error_rate: float = 0.0
    continuous: bool = False
    parallel: int = 4
    constant_answer: str | None = None

    def __post_init__(self) -> None:
        crashes = self.crash_marker is not None or self.crash_on_request or self.crash_at_start
        if crashes and not self.hosted:
            raise ValueError("the echo backend's crash options need `hosted = true`: they kill the process it runs in")


class EchoBackend:
    name = "echo"

    def __init__(self, options: EchoOptions) -> None:
        self.delay = options.delay_seconds
        self.fail_marker = options.fail_marker
        self.crash_marker = options.crash_marker
        self.crash_on_request = options.crash_on_request
        self.crash_at_start = options.crash_at_start
        self.seen = 0
        self.sampler = random.Random() if options.sample else None
        self.error_rate = options.error_rate
        self.jitter = options.jitter_seconds
        self.max_in_flight = options.max_in_flight
        answer = options.constant_answer
        self.constant = None if answer is None else GenerationResult(answer, _END, None, len(answer.split()),
                                                                     len(answer.split()))
        default_call = 1 if self.delay or self.jitter else 64
        self.requests_per_call = default_call if options.requests_per_call is None else options.requests_per_call

    def warm_up(self) -> None:
        if self.crash_at_start:
            _crash("crash_at_start: dying during start-up")

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        if self.delay or self.jitter:
            await asyncio.sleep(self.delay * len(requests) + random.uniform(0, self.jitter))
        if self.crash_marker or self.crash_on_request:
            return [self._one(request) for request in requests]
        self.seen += len(requests)  # nothing to crash on: no need to look for it request by request
        if self.constant is not None and _EMBEDDING not in map(_KIND, requests):  # looked for in C
            return [self.constant] * len(requests)  # as every call of the zero-cost benchmark is
        return list(map(self._answer, requests))

    def _one(self, request: GenerationRequest) -> GenerationResult | BackendError:
        self._maybe_crash(_source(request))
        return self._answer(request)

    def _answer(self, request: GenerationRequest) -> GenerationResult | BackendError:
        if self.constant is not None and request.kind is not _EMBEDDING:
            return self.constant
        source = _source(request)
        if self.fail_marker in source:
            return BackendError(f"echo backend was asked to fail: {self.fail_marker}", status=500)
        if self.sampler is not None and self.sampler.random() < self.error_rate:
            return BackendError("echo backend sampled a failure for this record", status=500)
        words = source.split()
        if request.kind is _EMBEDDING:
            embedding = _hash_vector(source, request.dimensions or 8, request.normalize)
            return GenerationResult(input_tokens=len(words), embedding=embedding)
        prompt_tokens = len(words)
        if len(request.messages) > 1 or request.system:
            prompt_tokens += sum(len(m.text.split()) for m in request.messages[:-1]) + len((request.system or "").split())
        if self.sampler is None and words and len(words) < request.max_tokens:  # the whole echo, as most are
            return GenerationResult("echo: " + " ".join(words), _END, None, prompt_tokens, len(words) + 1)
        reply = ["echo:", *words]
        if self.sampler is not None:
            reply += [f"w{self.sampler.randrange(1000)}" for _ in range(self.sampler.randrange(4))]
        del reply[request.max_tokens:]
        stop = _LENGTH if len(words) + 1 > request.max_tokens else _END
        return GenerationResult(" ".join(reply), stop, None, prompt_tokens, len(reply))

    def _maybe_crash(self, source: str) -> None:
        self.seen += 1
        if self.crash_marker and self.crash_marker in source:
            _crash(f"crash_marker: dying on a request holding {self.crash_marker!r}")
        if self.seen == self.crash_on_request:
            _crash(f"crash_on_request: dying on request {self.seen} of this process")

    def close(self) -> None:
        pass


class SteppingEchoBackend(EchoBackend):
    def __init__(self, options: EchoOptions) -> None:
        super().__init__(options)
        self.parallel = options.parallel
        self._steps_left: dict[Hashable, tuple[GenerationRequest, int]] = {}

    @property
    def busy(self) -> bool:
        return bool(self._steps_left)

    def free_slots(self) -> int:
        return self.parallel - len(self._steps_left)

    def admit(self, key: Hashable, request: GenerationRequest) -> BackendError | None:
        self._steps_left[key] = (request, max(1, min(request.max_tokens, len(_source(request).split()) + 1)))
        return None

    def step(self) -> list[tuple[Hashable, GenerationResult | BackendError]]:
        time.sleep(self.delay)
        finished = []
        for key, (request, left) in list(self._steps_left.items()):
            if left > 1:
                self._steps_left[key] = (request, left - 1)
            else:
                del self._steps_left[key]
                finished.append((key, self._one(request)))
        return finished


def _source(request: GenerationRequest) -> str:
    return request.prompt if request.prompt is not None else (request.messages[-1].text if request.messages else "")


def _crash(reason: str) -> None:
    print(f"echo backend: {reason}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)


def _hash_vector(text: str, dimensions: int, normalize: bool) -> tuple[float, ...]:
    digest = hashlib.sha256(text.encode()).digest()
    values = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dimensions)]
    if normalize:
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        values = [v / norm for v in values]
    return tuple(values)


def _create(options: EchoOptions) -> EchoBackend:
    return SteppingEchoBackend(options) if options.continuous else EchoBackend(options)


factory = Factory(EchoOptions, _create)  # the ``echo`` entry point
