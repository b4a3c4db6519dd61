"""A record's tokens, counted as the model that would run it counts them, before it runs.

llama.cpp entries: exact. The GGUF's vocabulary is loaded alone (``vocab_only``: no weights, a
fraction of a second), and the tokens are the backend's own (``LlamaCppBackend.prompt_tokens``:
the model's chat template, or the plain prompt, by the entry's ``prompt_mode``). The output
bound is the record's max tokens, capped by the room its prompt leaves in the entry's context
(``n_ctx``); a prompt that fills the context would be an error record, as the backend answers
it. Embedding requests produce no output tokens.

Any other backend: an approximation, one token per 4 characters of the request's text (system
prompt and every turn, or the prompt), rounded up per record, a rule of thumb for English text
under BPE vocabularies; the output bound is the record's max tokens.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import msgspec

from batchrock.backends.base import GenerationRequest, RequestKind
from batchrock.backends.llamacpp import LlamaCppBackend, LlamaCppOptions
from batchrock.catalog import ModelEntry

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Measure:
    input_tokens: int
    output_bound: int
    fits: bool = True  # False: the prompt does not fit the model's context (an error record)


class Tokenizer(Protocol):
    exact: bool
    description: str  # what counted the tokens, for the user

    def measure(self, request: GenerationRequest) -> Measure: ...


def tokenizer_for(entry: ModelEntry) -> Tokenizer:
    if entry.backend == "llamacpp":
        return LlamaCppTokenizer(msgspec.convert(entry.options, LlamaCppOptions))
    return ApproximateTokenizer(entry.backend)


def _output_bound(request: GenerationRequest) -> int:
    return 0 if request.kind is RequestKind.EMBEDDING else request.max_tokens


class ApproximateTokenizer:
    exact = False

    def __init__(self, backend: str) -> None:
        self.description = (f"approximate: 1 token per {CHARS_PER_TOKEN} characters of text (no tokenizer is known "
                            f"for the {backend} backend)")

    def measure(self, request: GenerationRequest) -> Measure:
        return Measure(math.ceil(len(_request_text(request)) / CHARS_PER_TOKEN), _output_bound(request))


def _request_text(request: GenerationRequest) -> str:
    texts = [request.system or "", request.prompt or "", *(message.text for message in request.messages)]
    return "\n".join(text for text in texts if text)


class LlamaCppTokenizer:
    exact = True

    def __init__(self, options: LlamaCppOptions) -> None:
        self.context = options.n_ctx
        self.vocabulary = _VocabularyOnly(options)
        self.description = (f"exact: the vocabulary of {Path(options.model_path).name} (llama.cpp), "
                            "on the prompt the backend renders")

    def measure(self, request: GenerationRequest) -> Measure:
        tokens = self.vocabulary.prompt_tokens(request)
        room = self.context - tokens
        if request.kind is RequestKind.EMBEDDING:
            return Measure(tokens, 0)
        if room <= 0:
            return Measure(tokens, 0, fits=False)
        return Measure(tokens, min(request.max_tokens, room))


class _VocabularyOnly:
    """The backend with its model's vocabulary alone: its own prompt rendering, no weights to load."""

    def __init__(self, options: LlamaCppOptions) -> None:
        self.backend = LlamaCppBackend(options, vocab_only=True)
        self.loaded = False

    def prompt_tokens(self, request: GenerationRequest) -> int:
        if not self.loaded:
            with _native_stderr_silenced():  # llama.cpp warns about the context a vocabulary has no use for
                self.backend.prompt_tokens(request)
            self.loaded = True
        return len(self.backend.prompt_tokens(request))


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
