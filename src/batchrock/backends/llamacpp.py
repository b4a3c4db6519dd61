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
says exactly why it ended (end of turn, length, or which stop sequence).

Sampling follows the request (the engine fills in the named model's defaults and a seed per
record, ``formats.sampling``); ``repeat_penalty`` (default 1.1, over the last
``repeat_last_n`` = 64 tokens; 1.0 turns it off) keeps a small model from looping, at any
temperature. A seeded record gets the same answer each run, except where a near tie meets
llama.cpp's rounding, which depends on what else shares the decode step.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Hashable, Sequence
from typing import Any

from batchrock.backends.base import (
    BackendError,
    BackendOptions,
    GenerationRequest,
    GenerationResult,
    RequestKind,
    StopReason,
    through_slots,
)
from batchrock.backends.text import before_stop, render_prompt

_SEED = 1234

Outcome = GenerationResult | BackendError


class LlamaCppOptions(BackendOptions, frozen=True):
    model_path: str
    n_ctx: int = 2048
    n_threads: int | None = None  # None: every core
    n_batch: int = 512
    embedding: bool = False
    parallel: int = 8
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64


class LlamaCppBackend:
    """Its stepping methods have one driver at a time: the model host's loop, or ``generate``."""

    name = "llamacpp"
    options_type = LlamaCppOptions
    hosted = True

    def __init__(self, options: LlamaCppOptions, *, vocab_only: bool = False) -> None:
        """``vocab_only``: the model's vocabulary and chat template alone, no weights, for counting
        prompt tokens (``prompt_tokens``) before a job runs."""
        self.model_path = options.model_path
        self.n_ctx = options.n_ctx
        self.n_threads = options.n_threads or os.cpu_count() or 2
        self.n_batch = options.n_batch
        self.embedding = options.embedding
        self.parallel = max(1, options.parallel)
        self.prompt_mode = options.prompt_mode
        self.repeat_penalty, self.repeat_last_n = options.repeat_penalty, options.repeat_last_n
        self.vocab_only = vocab_only
        self._decoder: Any = None
        self._model: Any = None
        self._formatter: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            model = Llama(model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                          embedding=self.embedding, seed=_SEED, verbose=False, vocab_only=self.vocab_only)
            template = model.metadata.get("tokenizer.chat_template")
            if template:
                eos = model.detokenize([model.token_eos()]).decode(errors="ignore")
                bos = model.detokenize([model.token_bos()]).decode(errors="ignore")
                self._formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
            self._model = model
        return self._model

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        """The tokens the model is given for ``request``: its chat template or plain prompt, by ``prompt_mode``."""
        return list(self._load().tokenize(self._prompt(request).encode(), add_bos=True, special=True))

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
        with self._lock:
            return through_slots(self, requests)

    @property
    def busy(self) -> bool:
        return self._decoder is not None and self._decoder.busy

    def free_slots(self) -> int:
        return self.parallel if self._decoder is None else self._decoder.free_slots()

    def admit(self, key: Hashable, request: GenerationRequest) -> BackendError | None:
        """Start ``request`` in a free slot under ``key``; or its error, at once, if it cannot run."""
        from batchrock.backends.llamacpp_batch import Decoding

        if request.kind is RequestKind.EMBEDDING:
            return BackendError("this llama.cpp model is not loaded for embeddings", status=400)
        prompt = self.prompt_tokens(request)
        room = self.n_ctx - len(prompt)
        if room <= 0:
            return BackendError(f"The prompt has {len(prompt)} tokens; the model's context window holds {self.n_ctx}.",
                                status=400)
        self._slots().admit(key, Decoding(prompt, min(request.max_tokens, room), request.temperature, request.top_p,
                                          request.top_k, request.stop_sequences, request.seed,
                                          self.repeat_penalty, self.repeat_last_n))
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
        return render_prompt(request, None if self._formatter is None else self._chat_template, self.prompt_mode)

    def _chat_template(self, messages: list[dict[str, str]]) -> str:
        return str(self._formatter(messages=messages).prompt)

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
        self._decoder = self._model = None


def _result(sequence: Any) -> GenerationResult:
    text = sequence.text.decode("utf-8", errors="replace")
    text = before_stop(text, sequence.matched) if sequence.matched is not None else text.strip()
    return GenerationResult(text, sequence.reason or StopReason.END, sequence.matched, len(sequence.prompt),
                            len(sequence.tokens))
