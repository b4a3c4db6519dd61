"""The backend interface: a batch of generation (or embedding) requests in, results out.

Requests and results are msgspec Structs: one of each is built for every record, and a Struct
costs a fraction of a dataclass to build; the model host sends them over its socket as they are.

A backend is a plugin: a ``batchrock.backends`` entry point names its factory
(``BackendFactory``), the built-ins exactly like third-party ones, and ``backends.registry``
loads it by name. The factory declares the catalog keys the backend takes (its
``BackendOptions`` subclass). One backend instance serves every job that names the same
backend model, so a loaded model is shared across jobs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import msgspec


class RequestKind(str, Enum):
    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"


# gc=False: made per record, immutable and holding only strings, numbers and tuples, these can
# never be part of a reference cycle, so the collector need not track them
class Message(msgspec.Struct, frozen=True, gc=False, rename={"text": "content"}):
    """A turn, encoded as the chat APIs spell one (``{"role", "content"}``): a turn whose content is a
    plain string decodes straight into one."""

    role: str  # "user" | "assistant"
    text: str


class GenerationRequest(msgspec.Struct, frozen=True, gc=False):
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
    seed: int | None = None  # the sampler's seed: one per record, so a job run again answers the same


class StopReason(str, Enum):
    END = "end"
    LENGTH = "length"
    STOP_SEQUENCE = "stop_sequence"


class GenerationResult(msgspec.Struct, frozen=True, gc=False):
    text: str = ""
    stop_reason: StopReason = StopReason.END
    stop_sequence: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    embedding: tuple[float, ...] = ()


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


@runtime_checkable
class ContinuousBackend(Protocol):
    """Optional, beside ``generate``: a backend that batches continuously (llama.cpp). Its model
    host admits requests into free slots at any time and steps the model, each request leaving
    as soon as it ends, instead of running one batch to the end before the next."""

    @property
    def busy(self) -> bool: ...  # a request is inside the model

    def free_slots(self) -> int: ...

    # Takes a slot for the request, or returns its error at once without one (it cannot run).
    def admit(self, key: Hashable, request: GenerationRequest) -> BackendError | None: ...

    # One step of the model; the requests that ended in it. A failure fails requests, never raises.
    def step(self) -> list[tuple[Hashable, GenerationResult | BackendError]]: ...


def through_slots(backend: ContinuousBackend, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
    """A batch through a continuously batching backend's slots, each request taking one as soon as
    one is free; the answers in the requests' order. The caller is the slots' one driver."""
    results: dict[Hashable, GenerationResult | BackendError] = {}
    waiting = deque(enumerate(requests))
    while waiting or backend.busy:
        while waiting and backend.free_slots():
            index, request = waiting.popleft()
            if (failed := backend.admit(index, request)) is not None:
                results[index] = failed
        results.update(backend.step())
    return [results[index] for index in range(len(requests))]


class PromptMode(str, Enum):
    CHAT = "chat"  # a prompt-style request's turns go through the serving model's chat template
    RAW = "raw"    # its prompt goes to the model exactly as the record gives it, as a plain completion


class BackendOptions(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The catalog keys every backend takes; a backend's own options subclass this. Where it runs,
    how a job feeds it (read by the registry, the engine and the model host), and how prompts reach it."""

    hosted: bool | None = None             # in a model host process; None: the backend's own default
    max_in_flight: int | None = None       # records a job keeps in flight on it; None: the engine's --batch-size
    requests_per_call: int | None = None   # requests a job hands it in one call; None: the backend's own default
    host_batch: int | None = None          # requests its model host hands the model at once; None: ``parallel`` or 64
    prompt_mode: PromptMode = PromptMode.CHAT  # how Titan/Llama/Mistral prompts reach the model (backends.text)


class BadBackendOptions(ValueError):
    """A catalog entry's options do not fit its backend (an unknown key, a wrong type)."""


OptionsT = TypeVar("OptionsT", bound=BackendOptions)


class BackendFactory(Protocol):
    """What a ``batchrock.backends`` entry point names: a backend class, or a ``Factory``."""

    @property
    def options_type(self) -> type[BackendOptions]: ...

    @property
    def hosted(self) -> bool: ...  # it runs in a model host unless the catalog says ``hosted = false``

    def __call__(self, options: Any) -> Backend: ...  # an instance of ``options_type`` in, a backend out


@dataclass(frozen=True)
class Factory(Generic[OptionsT]):
    """A function as a backend factory, for a plugin that picks its backend class by option."""

    options_type: type[OptionsT]
    create: Callable[[OptionsT], Backend]
    hosted: bool = False

    def __call__(self, options: OptionsT) -> Backend:
        return self.create(options)
