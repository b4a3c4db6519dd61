"""The backend interface: a batch of generation (or embedding) requests in, results out.

A backend is a plugin: it registers a factory under a name in ``backends.registry``, the
built-ins exactly like third-party ones. One backend instance serves every job that names
the same backend model, so a loaded model is shared across jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, Sequence


class RequestKind(str, Enum):
    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"


@dataclass(frozen=True)
class Message:
    role: str  # "user" | "assistant"
    text: str


@dataclass(frozen=True)
class GenerationRequest:
    kind: RequestKind
    messages: tuple[Message, ...] = ()
    system: str | None = None
    prompt: str | None = None  # completion prompts (Titan, Llama, Mistral) and embedding input
    max_tokens: int = 512
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: tuple[str, ...] = ()
    dimensions: int | None = None
    normalize: bool = True
    embedding_types: tuple[str, ...] = ("float",)


class StopReason(str, Enum):
    END = "end"
    LENGTH = "length"
    STOP_SEQUENCE = "stop_sequence"


@dataclass(frozen=True)
class GenerationResult:
    text: str = ""
    stop_reason: StopReason = StopReason.END
    stop_sequence: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    embedding: tuple[float, ...] = field(default=())


class BackendError(Exception):
    """One request failed in the backend. ``retryable`` errors are retried with backoff."""

    def __init__(self, message: str, status: int = 500, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable

    @property
    def unavailable(self) -> bool:
        """The backend as a whole is busy or unreachable (429, 503, no connection), not this request."""
        return self.status in (429, 503)


class BackendFailed(Exception):
    """The backend cannot serve at all (its model host cannot start, say); the job fails with this message."""


class Backend(Protocol):
    name: str

    # One result per request, in order; raises BackendFailed when the backend cannot serve at all.
    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]: ...

    # Optional: ``async def healthy(self) -> bool``, a cheap probe that tells a backend that is down
    # from requests it keeps failing (see engine/runner.py). Without it, the backend counts as up.

    def close(self) -> None: ...
