"""``llamacpp``: GGUF models in-process through llama-cpp-python (the CPU default).

It runs in a model host process (``backends.host``), so a native crash takes only the host
down; the model loads once, when the host starts, and serves every job that uses it.

Decoding is continuous batching (``llamacpp_batch``): up to ``parallel`` sequences (default
8; ``parallel = 1`` runs one at a time) share each llama.cpp decode step of at most
``n_batch`` tokens (default 512), a sequence that ends frees its slot for the next request at
once, and a prompt starts from the longest prefix another sequence already computed. The host drives that step by step through
``admit`` / ``step`` / ``free_slots`` / ``busy`` (``base.ContinuousBackend``), admitting
requests as they arrive; ``generate`` runs a whole batch through the same slots. A request
that cannot run (an embedding request, a prompt longer than the context) fails at admission
without taking a slot. Stop sequences are matched here on the generated text, so a result
says exactly why it ended (end of turn, length, or which stop sequence). An unset
temperature means greedy decoding: the same input gives the same output, except where a near
tie meets llama.cpp's rounding, which depends on what else shares the decode step.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from collections.abc import Hashable, Sequence
from typing import Any

from batchrock.backends import registry
from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult, RequestKind, StopReason

_SEED = 1234

Outcome = GenerationResult | BackendError


class LlamaCppBackend:
    """Its stepping methods have one driver at a time: the model host's loop, or ``generate``."""

    name = "llamacpp"

    def __init__(self, options: dict[str, Any]) -> None:
        self.model_path = str(options["model_path"])
        self.n_ctx = int(options.get("n_ctx", 2048))
        self.n_threads = int(options.get("n_threads", os.cpu_count() or 2))
        self.n_batch = int(options.get("n_batch", 512))
        self.embedding = bool(options.get("embedding", False))
        self.parallel = max(1, int(options.get("parallel", 8)))
        self._decoder: Any = None
        self._model: Any = None
        self._formatter: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            model = Llama(model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                          embedding=self.embedding, seed=_SEED, verbose=False)
            template = model.metadata.get("tokenizer.chat_template")
            if template:
                eos = model.detokenize([model.token_eos()]).decode(errors="ignore")
                bos = model.detokenize([model.token_bos()]).decode(errors="ignore")
                self._formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
            self._model = model
        return self._model

    def _slots(self) -> Any:
        if self._decoder is None:
            from batchrock.backends.llamacpp_batch import BatchDecoder

            model = self._load()
            self._decoder = BatchDecoder(model._model.model, model._model.vocab, self.n_ctx, self.parallel,
                                         self.n_threads, self.n_batch)
        return self._decoder

    def warm_up(self) -> None:
        """Load the model and decode one token: a build that cannot run on this CPU dies here, at start-up."""
        if self.embedding:
            with self._lock:
                self._load()
            return
        self._generate_all([GenerationRequest(RequestKind.COMPLETION, prompt="Hello", max_tokens=1)])

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        return await asyncio.to_thread(self._generate_all, list(requests))

    def _generate_all(self, requests: list[GenerationRequest]) -> list[Outcome]:
        """A batch through the slots: each request takes a slot as soon as one is free."""
        with self._lock:
            results: dict[Hashable, Outcome] = {}
            waiting = deque(enumerate(requests))
            while waiting or self.busy:
                while waiting and self.free_slots():
                    index, request = waiting.popleft()
                    if (failed := self.admit(index, request)) is not None:
                        results[index] = failed
                results.update(self.step())
            return [results[index] for index in range(len(requests))]

    @property
    def busy(self) -> bool:
        return self._decoder is not None and self._decoder.busy

    def free_slots(self) -> int:
        return self.parallel if self._decoder is None else self._decoder.free_slots()

    def admit(self, key: Hashable, request: GenerationRequest) -> BackendError | None:
        """Start ``request`` in a free slot under ``key``; or its error, at once, if it cannot run."""
        from batchrock.backends.llamacpp_batch import Sequence as Decoding

        if request.kind is RequestKind.EMBEDDING:
            return BackendError("this llama.cpp model is not loaded for embeddings", status=400)
        prompt = self._load().tokenize(self._prompt(request).encode(), add_bos=True, special=True)
        room = self.n_ctx - len(prompt)
        if room <= 0:
            return BackendError(f"The prompt has {len(prompt)} tokens; the model's context window holds {self.n_ctx}.",
                                status=400)
        self._slots().admit(key, Decoding(prompt, min(request.max_tokens, room), request.temperature, request.top_p,
                                          request.top_k, request.stop_sequences))
        return None

    def step(self) -> list[tuple[Hashable, Outcome]]:
        """One decode step over the busy slots; the requests that ended in it, with their results."""
        decoder = self._slots()
        try:
            finished = decoder.step()
        except Exception as error:  # as in-process: a failed decode fails its requests, retryably, not the host
            failure = BackendError(f"backend error: {error}", status=500, retryable=True)
            return [(key, failure) for key, _ in decoder.abandon()]
        return [(key, _result(sequence)) for key, sequence in finished]

    def _prompt(self, request: GenerationRequest) -> str:
        if request.kind is RequestKind.COMPLETION or self._formatter is None:
            return request.prompt or "\n".join(m.text for m in request.messages)
        messages = ([{"role": "system", "content": request.system}] if request.system else [])
        messages += [{"role": m.role, "content": m.text} for m in request.messages]
        return str(self._formatter(messages=messages).prompt)

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
        self._decoder = self._model = None


def _result(sequence: Any) -> GenerationResult:
    text = sequence.text.decode("utf-8", errors="replace")
    text = text[: text.index(sequence.matched)] if sequence.matched is not None else text.strip()
    return GenerationResult(text, sequence.reason or StopReason.END, sequence.matched, len(sequence.prompt),
                            len(sequence.tokens))


def register_plugin() -> None:
    registry.register("llamacpp", LlamaCppBackend, hosted=True)
