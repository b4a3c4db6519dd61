"""The transformers backend's continuous batching, on a real (small, random-weight) Llama model.

Needs torch and transformers, which `make test` does not install: skipped there; run where they
are (the GPU check runs it: README, "transformers"). Greedy answers are compared token for token
with the model's own ``generate`` of each prompt alone, in float32."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult, RequestKind  # noqa: E402
from batchrock.backends.hf_slots import Admitted  # noqa: E402
from batchrock.backends.hf_transformers import TransformersBackend, TransformersOptions  # noqa: E402
from tests.support.tiny_transformers import build_tiny_model, prompts  # noqa: E402

SKEWED = [40 if index % 4 == 0 else 5 for index in range(12)]  # a quarter run long, the rest stop early


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def backend(model_path: Path, **options: object) -> TransformersBackend:
    chosen = {"dtype": "float32", "repetition_penalty": 1.0, "parallel": 4, "prompt_mode": "raw", **options}
    return TransformersBackend(TransformersOptions(model_path=str(model_path), **chosen))  # type: ignore[arg-type]


def request(prompt: str, max_tokens: int, temperature: float = 0.0) -> GenerationRequest:
    return GenerationRequest(RequestKind.COMPLETION, prompt=prompt, max_tokens=max_tokens, temperature=temperature)


def alone(model: TransformersBackend, item: GenerationRequest) -> GenerationResult:
    """The model's own greedy ``generate`` of one prompt, with nothing beside it (on a copy of the
    model loaded apart: continuous batching turns the backend's own to paged attention)."""
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(model.model_path, dtype=torch.float32).to(model._model.device)
    prompt = model.prompt_tokens(item)
    with torch.inference_mode():
        output = reference.generate(input_ids=torch.tensor([prompt], device=reference.device),
                                    attention_mask=torch.ones(1, len(prompt), dtype=torch.long, device=reference.device),
                                    max_new_tokens=item.max_tokens, do_sample=False, repetition_penalty=1.0,
                                    pad_token_id=model._tokenizer.pad_token_id)
    assert model._slots is not None
    return model._slots.answers.result(Admitted(0, item, prompt), output[0][len(prompt):].tolist())


def test_greedy_answers_are_the_models_own_one_at_a_time(model_path: Path) -> None:
    model = backend(model_path)
    if not model.continuously:
        pytest.skip("this transformers has no continuous batching")
    items = [request(text, tokens) for text, tokens in zip(prompts(12), SKEWED, strict=True)]
    results = model._generate_all(items)
    assert results == [alone(model, item) for item in items]
    assert {result.output_tokens for result in results} - {0} <= set(SKEWED) | set(range(41))
    model.close()


def test_a_short_request_admitted_later_leaves_before_a_long_one(model_path: Path) -> None:
    """Slots free as requests end: one admitted behind a long one is answered first, and the long
    one's answer is what it would be alone."""
    model = backend(model_path, parallel=2)
    if not model.continuously:
        pytest.skip("this transformers has no continuous batching")
    long_one, short_ones = request(prompts(1)[0], 60), [request(text, 3) for text in prompts(4)[1:]]
    assert model.admit("long", long_one) is None
    finished: list[tuple[Hashable, GenerationResult | BackendError]] = []
    waiting = list(enumerate(short_ones))
    while model.busy or waiting:
        while waiting and model.free_slots():
            index, item = waiting.pop(0)
            assert model.admit(index, item) is None
        finished += model.step()
    order = [key for key, _ in finished]
    assert order[-1] == "long" and sorted(order[:-1]) == [0, 1, 2]  # each short one took the free slot and left
    assert dict(finished)["long"] == alone(model, long_one)
    model.close()


def test_requests_with_other_sampling_settings_take_their_turn(model_path: Path) -> None:
    model = backend(model_path)
    items = [request(text, tokens, 0.0 if index % 3 else 0.8) for index, (text, tokens)
             in enumerate(zip(prompts(12), SKEWED, strict=True))]
    results = model._generate_all(items)
    assert all(isinstance(result, GenerationResult) for result in results)
    assert [results[i] for i in range(12) if i % 3] == [alone(model, items[i]) for i in range(12) if i % 3]
    model.close()


def test_padded_batches_where_continuous_batching_is_off(model_path: Path) -> None:
    model = backend(model_path, continuous=False)
    assert not model.continuously
    items = [request(text, tokens) for text, tokens in zip(prompts(6), SKEWED[:6], strict=True)]
    results = model._generate_all(items)
    assert [result.output_tokens for result in results if isinstance(result, GenerationResult)] == \
        [alone(model, item).output_tokens for item in items]
    model.close()


def test_a_prompt_longer_than_the_model_fails_at_admission(model_path: Path) -> None:
    model = backend(model_path)
    error = model.admit("big", request("the " * 300, 5))
    assert isinstance(error, BackendError) and error.status == 400 and "positions" in str(error)
    assert not model.busy and model.free_slots() == 4
    embedding = model.admit("vector", GenerationRequest(RequestKind.EMBEDDING, prompt="the cat"))
    assert isinstance(embedding, BackendError) and embedding.status == 400
    model.close()
