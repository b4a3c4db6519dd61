"""``transformers``: Hugging Face models in-process (CPU or GPU), continuously batched.

Optional: ``pip install 'batchrock[transformers]'``. This module imports without torch;
torch and transformers are imported when the model loads (at the model host's start). Any local
model directory loads (``model_path``). Decoding is continuous batching on transformers' own
manager where the installed transformers has one (``hf_slots.ManagedSlots``): up to
``parallel`` requests (default 64) share each decode step, a request that ends leaves at once
and the next takes its place, and long prompts are prefilled in chunks. Elsewhere, or with
``continuous = false``, what is admitted runs as left-padded ``generate`` batches
(``hf_slots.PaddedSlots``). Set the entry's ``max_in_flight`` to at least ``parallel`` (twice it
keeps a request waiting for each slot that frees) so a job keeps the slots full.

The model host drives it through ``admit`` / ``step`` / ``free_slots`` / ``busy``
(``base.ContinuousBackend``), admitting requests as they arrive; ``generate`` runs a whole
batch through the same slots. A request that cannot run (an embedding request, a prompt longer
than the model's positions) fails at admission without taking a slot. It runs in a model host
process (``backends.host``): a crash in CUDA or torch, or an out-of-memory kill, takes only the
host down.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import msgspec

from batchrock.backends.base import (
    BackendError,
    BackendOptions,
    GenerationRequest,
    GenerationResult,
    RequestKind,
    through_slots,
)
from batchrock.backends.hf_slots import Admitted, Answers, ManagedSlots, PaddedSlots
from batchrock.backends.text import render_prompt

Outcome = GenerationResult | BackendError


class TransformersOptions(BackendOptions, frozen=True):
    model_path: str
    device: str = "auto"  # "auto": CUDA when there is one, else the CPU
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    repetition_penalty: float = 1.1  # transformers' own; 1.0 turns it off
    parallel: int = 64  # requests decoded together
    continuous: bool = True  # false: padded batches even where transformers batches continuously
    # transformers' ContinuousBatchingConfig, as given (num_blocks, max_batch_tokens, use_cuda_graph, ...)
    batching: dict[str, bool | int | float | str] = msgspec.field(default_factory=dict)


class TransformersBackend:
    """Its stepping methods have one driver at a time: the model host's loop, or ``generate``."""

    name = "transformers"
    options_type = TransformersOptions
    hosted = True

    def __init__(self, options: TransformersOptions) -> None:
        self.model_path = options.model_path
        self.device = options.device
        self.dtype = options.dtype
        self.prompt_mode = options.prompt_mode
        self.repetition_penalty = options.repetition_penalty
        self.parallel = max(1, options.parallel)
        self.continuous = options.continuous
        self.batching = dict(options.batching)
        self._model: Any = None
        self._tokenizer: Any = None
        self._slots: ManagedSlots | PaddedSlots | None = None
        self._lock = threading.Lock()

    def _load(self) -> ManagedSlots | PaddedSlots:
        if self._slots is not None:
            return self._slots
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        dtype = {"auto": torch.bfloat16 if device == "cuda" else torch.float32, "float16": torch.float16,
                 "bfloat16": torch.bfloat16, "float32": torch.float32}[self.dtype]
        tokenizer = AutoTokenizer.from_pretrained(self.model_path, padding_side="left")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(self.model_path, **_dtype_argument(dtype)).to(device).eval()
        self._tokenizer, self._model = tokenizer, model
        answers = Answers(tokenizer, _eos_ids(model, tokenizer))
        managed = self.continuous and hasattr(model, "init_continuous_batching")
        self._slots = (ManagedSlots(model, answers, self.parallel, self.repetition_penalty, self.batching) if managed
                       else PaddedSlots(model, answers, self.parallel, self.repetition_penalty))
        return self._slots

    @property
    def continuously(self) -> bool:
        """Whether requests join and leave at every step (transformers' continuous batching)."""
        return isinstance(self._load(), ManagedSlots)

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        """The tokens the model is given for ``request``: its chat template or plain prompt, by ``prompt_mode``."""
        self._load()
        template = self._chat_template if getattr(self._tokenizer, "chat_template", None) else None
        return list(self._tokenizer(render_prompt(request, template, self.prompt_mode))["input_ids"])

    def _chat_template(self, messages: list[dict[str, str]]) -> str:
        return str(self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def warm_up(self) -> None:
        """Load the model and generate one token: a GPU or build that cannot run fails here, at start-up."""
        self._generate_all([GenerationRequest(RequestKind.COMPLETION, prompt="Hello", max_tokens=1, temperature=0.0)])

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        return await asyncio.to_thread(self._generate_all, list(requests))

    def _generate_all(self, requests: list[GenerationRequest]) -> list[Outcome]:
        with self._lock:
            return through_slots(self, requests)

    @property
    def busy(self) -> bool:
        return self._slots is not None and self._slots.busy

    def free_slots(self) -> int:
        return self.parallel if self._slots is None else self._slots.free_slots()

    def admit(self, key: Hashable, request: GenerationRequest) -> BackendError | None:
        """Start ``request`` in a free slot under ``key``; or its error, at once, if it cannot run."""
        if request.kind is RequestKind.EMBEDDING:
            return BackendError("this transformers model generates text; it makes no embeddings", status=400)
        slots = self._load()
        prompt = self.prompt_tokens(request)
        positions = int(getattr(self._model.config, "max_position_embeddings", 0) or 0) or len(prompt) + request.max_tokens
        room = positions - len(prompt)
        if room <= 0:
            return BackendError(f"The prompt has {len(prompt)} tokens; the model holds {positions} positions.", status=400)
        if request.max_tokens > room:
            request = msgspec.structs.replace(request, max_tokens=room)
        slots.admit(Admitted(key, request, prompt))
        return None

    def step(self) -> list[tuple[Hashable, Outcome]]:
        """The requests that ended since the last step, with their results."""
        slots = self._load()
        try:
            return slots.step()
        except Exception as error:  # as in-process: a failed step fails its requests, retryably, not the host
            failure = BackendError(f"backend error: {error}", status=500, retryable=True)
            return [(key, failure) for key in slots.abandon()]

    def close(self) -> None:
        if self._slots is not None:
            self._slots.close()
        self._slots = self._model = None


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The tokens that end a sequence: the generation config's, else the tokenizer's."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if configured is None:
        configured = tokenizer.eos_token_id
    if configured is None:
        return set()
    return {int(configured)} if isinstance(configured, int) else {int(token) for token in configured}


def _dtype_argument(dtype: Any) -> dict[str, Any]:
    """``from_pretrained``'s dtype keyword: ``dtype`` since transformers 4.56, ``torch_dtype`` before."""
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}
