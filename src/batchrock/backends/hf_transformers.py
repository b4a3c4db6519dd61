"""``transformers``: Hugging Face models in-process (CPU or GPU) with padded batch generation.

Optional: ``pip install 'batchrock[transformers]'``. This module imports without torch;
torch and transformers are imported when the first request arrives. Any local model
directory loads (``model_path``); a whole backend batch is generated in one ``generate``
call with left padding, so a GPU stays busy. Use ``batch_size`` on the server to size it.
It runs in a model host process (``backends.host``): a crash in CUDA or torch, or an
out-of-memory kill, takes only the host down.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any, Literal

from batchrock.backends.base import BackendError, BackendOptions, GenerationRequest, GenerationResult, StopReason
from batchrock.backends.text import before_stop, find_stop, render_prompt


class TransformersOptions(BackendOptions, frozen=True):
    model_path: str
    device: str = "auto"  # "auto": CUDA when there is one, else the CPU
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    repetition_penalty: float = 1.1  # transformers' own; 1.0 turns it off


class TransformersBackend:
    name = "transformers"
    options_type = TransformersOptions
    hosted = True

    def __init__(self, options: TransformersOptions) -> None:
        self.model_path = options.model_path
        self.device = options.device
        self.dtype = options.dtype
        self.prompt_mode = options.prompt_mode
        self.repetition_penalty = options.repetition_penalty
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        dtype = {"auto": torch.bfloat16 if device == "cuda" else torch.float32, "float16": torch.float16,
                 "bfloat16": torch.bfloat16, "float32": torch.float32}[self.dtype]
        tokenizer = AutoTokenizer.from_pretrained(self.model_path, padding_side="left")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(self.model_path, torch_dtype=dtype).to(device).eval()
        self._tokenizer, self._model = tokenizer, model

    def _prompt(self, request: GenerationRequest) -> str:
        template = self._chat_template if getattr(self._tokenizer, "chat_template", None) else None
        return render_prompt(request, template, self.prompt_mode)

    def _chat_template(self, messages: list[dict[str, str]]) -> str:
        return str(self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def warm_up(self) -> None:
        with self._lock:
            self._load()

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        return await asyncio.to_thread(self._generate_all, list(requests))

    def _generate_all(self, requests: list[GenerationRequest]) -> list[GenerationResult | BackendError]:
        with self._lock:
            self._load()
            groups: dict[tuple[int, float | None, float | None, int | None], list[int]] = {}
            for index, request in enumerate(requests):
                groups.setdefault((request.max_tokens, request.temperature, request.top_p, request.top_k), []).append(index)
            results: list[GenerationResult | BackendError] = [BackendError("not run")] * len(requests)
            for indices in groups.values():
                for index, result in zip(indices, self._generate_group([requests[i] for i in indices]), strict=True):
                    results[index] = result
            return results

    def _generate_group(self, requests: list[GenerationRequest]) -> list[GenerationResult | BackendError]:
        import torch

        first = requests[0]
        inputs = self._tokenizer([self._prompt(r) for r in requests], return_tensors="pt", padding=True).to(self._model.device)
        sampling = first.temperature not in (None, 0.0)
        if sampling and first.seed is not None:
            torch.manual_seed(first.seed)  # one generator for the batch: the same batch of records answers the same
        with torch.inference_mode():
            output = self._model.generate(**inputs, max_new_tokens=first.max_tokens, do_sample=sampling,
                                          temperature=first.temperature if sampling else None,
                                          top_p=first.top_p if sampling else None, top_k=first.top_k if sampling else None,
                                          repetition_penalty=self.repetition_penalty,
                                          pad_token_id=self._tokenizer.pad_token_id)
        prompt_length = inputs["input_ids"].shape[1]
        results: list[GenerationResult | BackendError] = []
        for row, request, mask in zip(output, requests, inputs["attention_mask"], strict=True):
            new = row[prompt_length:]
            produced = int((new != self._tokenizer.pad_token_id).sum())
            text = self._tokenizer.decode(new, skip_special_tokens=True)
            reason = StopReason.LENGTH if produced >= request.max_tokens else StopReason.END
            matched = find_stop(text, request.stop_sequences)
            if matched is not None:
                text, reason = before_stop(text, matched), StopReason.STOP_SEQUENCE
            results.append(GenerationResult(text.strip(), reason, matched, int(mask.sum()), produced))
        return results

    def close(self) -> None:
        self._model = None
