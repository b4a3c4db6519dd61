"""The backend stand-in the registry hands out: it passes for the backend (class, attributes, the
continuous protocol, a health probe only where there is one) and counts each call once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Sequence

from prometheus_client import REGISTRY

from batchrock.backends.base import (
    BackendError,
    BackendOptions,
    ContinuousBackend,
    GenerationRequest,
    GenerationResult,
    Message,
    RequestKind,
)
from batchrock.backends.echo import EchoBackend
from batchrock.backends.registry import BackendRegistry
from batchrock.observability.backend_metrics import instrument


def request(text: str) -> GenerationRequest:
    return GenerationRequest(RequestKind.CHAT, (Message("user", text),))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class ProbedOptions(BackendOptions, frozen=True):
    model: str = "probed-model"


class ProbedBackend:
    """Busy (503) on every request, with a health probe that says it is down."""

    name = "probed"
    options_type = ProbedOptions
    hosted = False

    def __init__(self, _options: ProbedOptions) -> None:
        self.closed = False

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        return [BackendError("busy", status=503, retryable=True) for _ in requests]

    async def healthy(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def test_the_stand_in_passes_for_the_backend_and_counts_each_call() -> None:
    registry = BackendRegistry.from_entry_points(instrument)
    echo = registry.backend_for("echo", registry.options_for("echo", {}))
    assert isinstance(echo, EchoBackend) and not isinstance(echo, ContinuousBackend)
    assert getattr(echo, "healthy", None) is None and echo.requests_per_call == 64 and echo.name == "echo"
    assert registry.backend_for("echo", registry.options_for("echo", {})) is echo
    labels = {"backend": "echo", "model": "echo"}
    calls, ok = sample("batchrock_backend_request_seconds_count", **labels), \
        sample("batchrock_backend_requests_total", **labels, outcome="ok")
    errors = sample("batchrock_backend_requests_total", **labels, outcome="error")
    results = asyncio.run(echo.generate([request("one"), request("two"), request("ECHO_FAIL")]))
    assert [isinstance(result, GenerationResult) for result in results] == [True, True, False]
    assert sample("batchrock_backend_request_seconds_count", **labels) == calls + 1  # one call, three records
    assert sample("batchrock_backend_requests_total", **labels, outcome="ok") == ok + 2
    assert sample("batchrock_backend_requests_total", **labels, outcome="error") == errors + 1
    assert sample("batchrock_backend_requests_in_flight", **labels) == 0
    registry.close()


def test_an_unavailable_backend_and_its_probe_mark_it_down() -> None:
    registry = BackendRegistry(instrument=instrument)
    registry.register("probed", ProbedBackend)
    backend = registry.backend_for("probed", registry.options_for("probed", {}))
    labels = {"backend": "probed", "model": "probed-model"}
    asyncio.run(backend.generate([request("a"), request("b")]))
    assert sample("batchrock_backend_up", **labels) == 0
    assert sample("batchrock_backend_requests_total", **labels, outcome="unavailable") == 2
    probe = getattr(backend, "healthy", None)
    assert probe is not None and asyncio.run(probe()) is False
    registry.close()
    assert isinstance(backend, ProbedBackend) and backend.closed


def test_a_continuous_backend_stays_continuous_and_each_request_is_timed() -> None:
    registry = BackendRegistry.from_entry_points(instrument)
    backend = registry.backend_for("echo", registry.options_for("echo", {"continuous": True, "hosted": False,
                                                                         "delay_seconds": 0.001}))
    assert isinstance(backend, ContinuousBackend)
    labels = {"backend": "echo", "model": "echo"}
    calls = sample("batchrock_backend_request_seconds_count", **labels)
    keys: list[Hashable] = ["a", "b"]
    assert all(backend.admit(key, request(f"hello {key}")) is None for key in keys)
    assert sample("batchrock_backend_requests_in_flight", **labels) == 2
    ended: list[Hashable] = []
    deadline = time.monotonic() + 10
    while len(ended) < 2 and time.monotonic() < deadline:
        ended += [key for key, _result in backend.step()]
    assert sorted(map(str, ended)) == ["a", "b"] and not backend.busy
    assert sample("batchrock_backend_request_seconds_count", **labels) == calls + 2
    assert sample("batchrock_backend_requests_in_flight", **labels) == 0
    registry.close()
