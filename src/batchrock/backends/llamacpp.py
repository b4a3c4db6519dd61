"""``llamacpp``: GGUF models in-process through llama-cpp-python (the CPU default).

It runs in a model host process (``backends.host``), so a native crash takes only the host
down; the model loads once, when the host starts, and serves every job that uses it. With
``parallel`` > 1 (default 8) a backend batch is decoded together, several sequences per
llama.cpp decode step (``llamacpp_batch``); with ``parallel = 1`` requests stream one at a
time. Stop sequences are matched here on the generated text, so a result says exactly why
it ended (end of turn, length, or which stop sequence). An unset temperature means greedy
decoding, so the same input gives the same output.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any, Sequence

from batchrock.backends import registry
from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult, RequestKind, StopReason

_SEED = 1234


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(self, options: dict[str, Any]) -> None:
        self.model_path = str(options["model_path"])
        self.n_ctx = int(options.get("n_ctx", 2048))
        self.n_threads = int(options.get("n_threads", os.cpu_count() or 2))
        self.embedding = bool(options.get("embedding", False))
        self.parallel = int(options.get("parallel", 8))
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

    def warm_up(self) -> None:
        """Load the model and decode one token: a build that cannot run on this CPU dies here, at start-up."""
        if self.embedding:
            with self._lock:
                self._load()
            return
        self._generate_all([GenerationRequest(RequestKind.COMPLETION, prompt="Hello", max_tokens=1)])

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        return await asyncio.to_thread(self._generate_all, list(requests))

    def _generate_all(self, requests: list[GenerationRequest]) -> list[GenerationResult | BackendError]:
        with self._lock:
            model = self._load()
            if self.parallel <= 1:
                return [self._one(model, request) for request in requests]
            results: list[GenerationResult | BackendError] = []
            for start in range(0, len(requests), self.parallel):
                results += self._batched(model, requests[start : start + self.parallel])
            return results

    def _batched(self, model: Any, requests: list[GenerationRequest]) -> list[GenerationResult | BackendError]:
        from batchrock.backends.llamacpp_batch import BatchDecoder, Sequence

        if self._decoder is None:
            self._decoder = BatchDecoder(model._model.model, model._model.vocab, self.n_ctx, self.parallel, self.n_threads)
        results: list[GenerationResult | BackendError | None] = [None] * len(requests)
        runnable: list[tuple[int, Sequence]] = []
        for index, request in enumerate(requests):
            if request.kind is RequestKind.EMBEDDING:
                results[index] = BackendError("this llama.cpp model is not loaded for embeddings", status=400)
                continue
            prompt = model.tokenize(self._prompt(request).encode(), add_bos=True, special=True)
            room = self.n_ctx - len(prompt)
            if room <= 0:
                results[index] = BackendError(
                    f"The prompt has {len(prompt)} tokens; the model's context window holds {self.n_ctx}.", status=400)
                continue
            runnable.append((index, Sequence(prompt, min(request.max_tokens, room), request.temperature, request.top_p,
                                             request.top_k, request.stop_sequences)))
        if runnable:
            self._decoder.run([sequence for _, sequence in runnable])
        for index, sequence in runnable:
            text = sequence.text.decode("utf-8", errors="replace")
            if sequence.matched is not None:
                text = text[: text.index(sequence.matched)]
            else:
                text = text.strip()
            results[index] = GenerationResult(text, sequence.reason or StopReason.END, sequence.matched,
                                              len(sequence.prompt), len(sequence.tokens))
        return [result for result in results if result is not None]

    def _prompt(self, request: GenerationRequest) -> str:
        if request.kind is RequestKind.COMPLETION or self._formatter is None:
            return request.prompt or "\n".join(m.text for m in request.messages)
        messages = ([{"role": "system", "content": request.system}] if request.system else [])
        messages += [{"role": m.role, "content": m.text} for m in request.messages]
        return self._formatter(messages=messages).prompt

    def _one(self, model: Any, request: GenerationRequest) -> GenerationResult | BackendError:
        if request.kind is RequestKind.EMBEDDING:
            return BackendError("this llama.cpp model is not loaded for embeddings", status=400)
        prompt = self._prompt(request)
        prompt_tokens = len(model.tokenize(prompt.encode(), add_bos=True, special=True))
        room = self.n_ctx - prompt_tokens
        if room <= 0:
            return BackendError(f"The prompt has {prompt_tokens} tokens; the model's context window holds {self.n_ctx}.",
                                status=400)
        return self._stream(model, prompt, prompt_tokens, request, min(request.max_tokens, room))

    def _stream(self, model: Any, prompt: str, prompt_tokens: int, request: GenerationRequest, budget: int) -> GenerationResult:
        text, produced, reason, matched = "", 0, StopReason.END, None
        stream = model.create_completion(
            prompt, max_tokens=budget, stream=True, seed=_SEED,
            temperature=0.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            top_k=0 if not request.top_k else request.top_k,
        )
        for chunk in stream:
            choice = chunk["choices"][0]
            text += choice.get("text") or ""
            produced += 1
            matched = next((stop for stop in request.stop_sequences if stop and stop in text), None)
            if matched is not None:
                text, reason = text[: text.index(matched)], StopReason.STOP_SEQUENCE
                stream.close()
                break
            if choice.get("finish_reason") == "length":
                reason = StopReason.LENGTH
        produced = min(produced, budget)  # the closing chunk may carry no token
        if reason is StopReason.END and produced >= budget:
            reason = StopReason.LENGTH
        return GenerationResult(text.strip() if reason is not StopReason.STOP_SEQUENCE else text, reason, matched,
                                prompt_tokens, produced)

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
        self._decoder = self._model = None


def register_plugin() -> None:
    registry.register("llamacpp", LlamaCppBackend, hosted=True)
