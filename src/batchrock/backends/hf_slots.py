"""The transformers backend's slots: continuous batching on transformers' own manager, or padded
batches where the installed transformers has none.

``ManagedSlots`` feeds transformers' ``ContinuousBatchingManager`` (``init_continuous_batching``:
a paged KV cache, requests joining and leaving at every decode step, long prompts prefilled in
chunks so the others keep decoding), the library's own continuous batching, not one of ours. Its
thread steps the model; ``admit`` hands a request's prompt tokens over at once and ``step``
returns the requests that ended since the last call, waiting briefly for one.

The manager samples with one generation config for all it runs, so requests run by their
sampling settings: one whose temperature, top-p or top-k differ from the running ones' waits
(in its slot) until those end, and a manager with its settings takes over; the requests behind
it wait their turn, so neither kind starves. A job's records share their settings unless their
bodies set them. All sequences draw from one generator, so a sampled answer depends on what runs
beside it; a greedy one (temperature 0) does not.

``PaddedSlots`` is the fallback (transformers without continuous batching, or ``continuous =
false``): what is admitted runs as left-padded ``generate`` calls, one per sampling setting, at
the next step.
"""

from __future__ import annotations

import inspect
import itertools
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult, StopReason
from batchrock.backends.text import before_stop, find_stop

Sampling = tuple[bool, float | None, float | None, int | None]  # do_sample, temperature, top_p, top_k
Outcome = GenerationResult | BackendError
_RESULT_WAIT_SECONDS = 0.02  # how long a step waits for an answer before the host looks for new requests


def sampling_of(request: GenerationRequest) -> Sampling:
    sampled = request.temperature not in (None, 0.0)
    return (True, request.temperature, request.top_p, request.top_k) if sampled else (False, None, None, None)


@dataclass
class Admitted:
    key: Hashable
    request: GenerationRequest
    prompt: list[int]


class Answers:
    """Generated tokens made into results: the end-of-sequence token dropped, stop sequences cut."""

    def __init__(self, tokenizer: Any, eos_ids: set[int]) -> None:
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids

    def result(self, admitted: Admitted, tokens: list[int]) -> GenerationResult:
        ended = bool(tokens) and tokens[-1] in self.eos_ids
        tokens = [token for token in tokens if token not in self.eos_ids]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        reason = StopReason.END if ended or len(tokens) < admitted.request.max_tokens else StopReason.LENGTH
        matched = find_stop(text, admitted.request.stop_sequences)
        if matched is not None:
            text, reason = before_stop(text, matched), StopReason.STOP_SEQUENCE
        return GenerationResult(text.strip(), reason, matched, len(admitted.prompt), len(tokens))


class ManagedSlots:
    def __init__(self, model: Any, answers: Answers, slots: int, repetition_penalty: float,
                 batching: dict[str, Any] | None = None) -> None:
        self.model = model
        self.batching = batching or {}  # transformers' ContinuousBatchingConfig, as the catalog gives it
        self.answers = answers
        self.slots = slots
        self.repetition_penalty = repetition_penalty
        self._manager: Any = None
        self._sampling: Sampling | None = None
        self._running: dict[str, Admitted] = {}  # request id -> the request inside the manager
        self._waiting: deque[Admitted] = deque()  # for another sampling setting, in arrival order
        self._ids = itertools.count()

    @property
    def busy(self) -> bool:
        return bool(self._running or self._waiting)

    def free_slots(self) -> int:
        return self.slots - len(self._running) - len(self._waiting)

    def admit(self, admitted: Admitted) -> None:
        if self._waiting or (self._running and sampling_of(admitted.request) != self._sampling):
            self._waiting.append(admitted)
        else:
            self._submit(admitted)

    def step(self) -> list[tuple[Hashable, Outcome]]:
        if not self._running and self._waiting:
            self._take_turn()
        if not self._running:
            return []
        finished = []
        output = self._manager.get_result(timeout=_RESULT_WAIT_SECONDS)
        while output is not None:
            if (admitted := self._running.pop(output.request_id, None)) is not None:
                finished.append((admitted.key, self._outcome(admitted, output)))
            output = self._manager.get_result(timeout=0)
        if self._running and not self._manager_alive():  # its thread died: nothing more will come
            failure = BackendError("backend error: the continuous batching thread stopped", status=500, retryable=True)
            finished += [(admitted.key, failure) for admitted in self._running.values()]
            self._running.clear()
            self._stop_manager()
        return finished

    def abandon(self) -> list[Hashable]:
        """Drop every request (the manager is stopped); their keys."""
        keys = [admitted.key for admitted in [*self._running.values(), *self._waiting]]
        self._running.clear()
        self._waiting.clear()
        self._stop_manager()
        return keys

    def close(self) -> None:
        self._stop_manager()

    def _take_turn(self) -> None:
        """The running requests have ended: the first waiting one's setting runs next, with every
        waiting request that shares it."""
        turn = sampling_of(self._waiting[0].request)
        waiting, self._waiting = self._waiting, deque()
        for admitted in waiting:
            if sampling_of(admitted.request) == turn:
                self._submit(admitted)
            else:
                self._waiting.append(admitted)

    def _submit(self, admitted: Admitted) -> None:
        sampling = sampling_of(admitted.request)
        if self._manager is None or sampling != self._sampling:
            self._start_manager(sampling)
        request_id = f"r{next(self._ids)}"
        self._running[request_id] = admitted
        self._manager.add_request(admitted.prompt, request_id=request_id, max_new_tokens=admitted.request.max_tokens)

    def _start_manager(self, sampling: Sampling) -> None:
        from transformers import GenerationConfig
        from transformers.generation import ContinuousBatchingConfig

        self._stop_manager()
        do_sample, temperature, top_p, top_k = sampling
        config = GenerationConfig(do_sample=do_sample, temperature=temperature, top_p=top_p, top_k=top_k,
                                  repetition_penalty=self.repetition_penalty, max_new_tokens=256,
                                  eos_token_id=sorted(self.answers.eos_ids) or None,
                                  pad_token_id=self.answers.tokenizer.pad_token_id)
        known = inspect.signature(ContinuousBatchingConfig).parameters  # its fields move between releases
        sized = {"max_requests_per_batch": self.slots} if "max_requests_per_batch" in known else {}
        batching = ContinuousBatchingConfig(**{**sized, **self.batching})
        self._manager = self.model.init_continuous_batching(generation_config=config, continuous_batching_config=batching)
        self._manager.start()
        self._sampling = sampling

    def _manager_alive(self) -> bool:
        alive = getattr(self._manager, "is_running", None)  # not in every release
        return alive is None or bool(alive())

    def _stop_manager(self) -> None:
        if self._manager is not None:
            self._manager.stop(block=True)
            self._manager = None

    def _outcome(self, admitted: Admitted, output: Any) -> Outcome:
        if getattr(output, "error", None):
            return BackendError(f"backend error: {output.error}", status=500, retryable=True)
        return self.answers.result(admitted, list(output.generated_tokens))


class PaddedSlots:
    def __init__(self, model: Any, answers: Answers, slots: int, repetition_penalty: float) -> None:
        self.model = model
        self.answers = answers
        self.slots = slots
        self.repetition_penalty = repetition_penalty
        self._admitted: list[Admitted] = []

    @property
    def busy(self) -> bool:
        return bool(self._admitted)

    def free_slots(self) -> int:
        return self.slots - len(self._admitted)

    def admit(self, admitted: Admitted) -> None:
        self._admitted.append(admitted)

    def step(self) -> list[tuple[Hashable, Outcome]]:
        groups: dict[tuple[int, Sampling], list[Admitted]] = {}
        for admitted in self._admitted:
            groups.setdefault((admitted.request.max_tokens, sampling_of(admitted.request)), []).append(admitted)
        self._admitted = []
        finished: list[tuple[Hashable, Outcome]] = []
        for group in groups.values():
            finished += zip([admitted.key for admitted in group], self._generate(group), strict=True)
        return finished

    def abandon(self) -> list[Hashable]:
        keys = [admitted.key for admitted in self._admitted]
        self._admitted = []
        return keys

    def close(self) -> None:
        self._admitted = []

    def _generate(self, group: list[Admitted]) -> list[Outcome]:
        import torch

        first = group[0].request
        pad = self.answers.tokenizer.pad_token_id
        width = max(len(admitted.prompt) for admitted in group)
        ids = torch.tensor([[pad] * (width - len(a.prompt)) + a.prompt for a in group], device=self.model.device)
        mask = torch.tensor([[0] * (width - len(a.prompt)) + [1] * len(a.prompt) for a in group], device=self.model.device)
        do_sample, temperature, top_p, top_k = sampling_of(first)
        if do_sample and first.seed is not None:
            torch.manual_seed(first.seed)  # one generator for the batch: the same batch of records answers the same
        with torch.inference_mode():
            output = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=first.max_tokens,
                                         do_sample=do_sample, temperature=temperature, top_p=top_p, top_k=top_k,
                                         repetition_penalty=self.repetition_penalty, pad_token_id=pad)
        return [self.answers.result(admitted, [token for token in row[width:].tolist() if token != pad])
                for admitted, row in zip(group, output, strict=True)]
