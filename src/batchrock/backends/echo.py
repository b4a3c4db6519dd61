"""``echo``: a deterministic, zero-cost test backend (labelled as such; never a default for real models).

It answers with the words of the last user message (or prompt), cut to ``max_tokens``
words, counting one token per word; embeddings are a hash of the input. Benchmarks use it to
measure the engine without a model, tests to make jobs fast and predictable.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import Any, Sequence

from batchrock.backends import registry
from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult, RequestKind, StopReason


class EchoBackend:
    name = "echo"

    def __init__(self, options: dict[str, Any]) -> None:
        self.delay = float(options.get("delay_seconds", 0.0))
        self.fail_marker = options.get("fail_marker", "ECHO_FAIL")

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        if self.delay:
            await asyncio.sleep(self.delay * len(requests))
        return [self._one(request) for request in requests]

    def _one(self, request: GenerationRequest) -> GenerationResult | BackendError:
        source = request.prompt if request.prompt is not None else (request.messages[-1].text if request.messages else "")
        if self.fail_marker in source:
            return BackendError(f"echo backend was asked to fail: {self.fail_marker}", status=500)
        words = source.split()
        prompt_tokens = len(words) + sum(len(m.text.split()) for m in request.messages[:-1]) + len((request.system or "").split())
        if request.kind is RequestKind.EMBEDDING:
            return GenerationResult(input_tokens=len(words), embedding=_hash_vector(source, request.dimensions or 8, request.normalize))
        reply = ["echo:", *words][: request.max_tokens]
        stop = StopReason.LENGTH if len(words) + 1 > request.max_tokens else StopReason.END
        return GenerationResult(" ".join(reply), stop, None, prompt_tokens, len(reply))

    def close(self) -> None:
        pass


def _hash_vector(text: str, dimensions: int, normalize: bool) -> tuple[float, ...]:
    digest = hashlib.sha256(text.encode()).digest()
    values = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dimensions)]
    if normalize:
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        values = [v / norm for v in values]
    return tuple(values)


def register_plugin() -> None:
    registry.register("echo", EchoBackend)
