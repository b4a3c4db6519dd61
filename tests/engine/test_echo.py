"""The echo backend's zero-cost mode, and the benchmark catalog that uses it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from batchrock.backends.base import GenerationRequest, GenerationResult, Message, RequestKind, StopReason
from batchrock.backends.echo import EchoBackend, EchoOptions
from batchrock.backends.registry import BackendRegistry
from batchrock.catalog import Catalog

BENCH_CATALOG = Path(__file__).resolve().parents[2] / "bench/zero_cost_catalog.toml"


def test_a_constant_answer_answers_every_generation_and_leaves_embeddings_as_they_were() -> None:
    backend = EchoBackend(EchoOptions(constant_answer="the same three"))
    chat = GenerationRequest(RequestKind.CHAT, (Message("user", "what is different here"),), max_tokens=2)
    completion = GenerationRequest(RequestKind.COMPLETION, prompt="anything")
    answers = asyncio.run(backend.generate([chat, completion]))
    assert answers == [GenerationResult("the same three", StopReason.END, None, 3, 3)] * 2
    embedding = GenerationRequest(RequestKind.EMBEDDING, prompt="a b", dimensions=4)
    with_embedding = asyncio.run(backend.generate([chat, embedding]))
    plain = asyncio.run(EchoBackend(EchoOptions()).generate([embedding]))
    assert with_embedding == [answers[0], plain[0]]


def test_the_benchmark_catalog_loads_with_its_zero_cost_and_echo_entries() -> None:
    catalog = Catalog.load(BENCH_CATALOG, BackendRegistry.from_entry_points())
    zero_cost = catalog.resolve("anthropic.claude-3-haiku-20240307-v1:0")
    echo = catalog.resolve("anthropic.claude-3-sonnet-20240229-v1:0")
    assert zero_cost is not None and zero_cost.options["constant_answer"]
    assert echo is not None and "constant_answer" not in echo.options
