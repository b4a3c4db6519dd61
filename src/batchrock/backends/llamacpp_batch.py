"""Continuous batching over llama.cpp's low-level batch API: sequences join and leave at any step.

One context holds up to ``n_seq`` slots in a unified KV cache, each slot one sequence. A
sequence is admitted into a free slot at any time; every ``step()`` is one ``llama_decode``
of one batch that holds the next token of every slot that is generating plus prompt tokens
of slots still prefilling, at most ``n_batch`` tokens in all. Generating slots come first, so
a long prompt is prefilled over several steps (chunked) while the others keep decoding. A
sequence that ends (end of generation, its token budget, a stop sequence) leaves at once:
its cells are removed and its slot takes the next sequence, with no barrier on the rest.

Prompts share their common prefix, as llama.cpp's server reuses a slot's cached prompt: a
sequence starts from the longest prefix of its prompt that another sequence in the cache
already holds (the cells are shared, not copied: ``llama_memory_seq_cp`` tags them with its
id too), and prefills only the rest. So that a prefix outlives the sequences that made it,
the prompt of the last sequence to end stays in the cache under a sequence id of its own.
Batch jobs repeat the same system prompt and instructions in every record, and on a CPU a
prompt token costs about as much to prefill as a generated token in a batched step.

Sampling runs in numpy on each sequence's logits: first llama.cpp's repeat penalty over the
sequence's last ``repeat_last_n`` tokens (prompt and answer), then greedy at temperature 0 (or
unset), else temperature / top-k / top-p over the ``CANDIDATES`` most likely tokens (top-k's
own cap when smaller) with the request's seed, so a record gets the same answer every time.
"""

from __future__ import annotations

import ctypes
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import llama_cpp as L
import numpy as np

from batchrock.backends.base import StopReason
from batchrock.backends.text import find_stop

_SEED = 1234
# Tokens a sampling step draws from: the tail past the 256 most likely holds a negligible share
# of the probability, and sorting the whole vocabulary (49k tokens) per token would cost more
# than a decode step's share of a small model.
CANDIDATES = 256

Key = TypeVar("Key", bound=Hashable)


@dataclass
class Decoding:
    prompt: list[int]
    max_tokens: int
    temperature: float | None
    top_p: float | None
    top_k: int | None
    stop_sequences: tuple[str, ...]
    seed: int | None = None
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    tokens: list[int] = field(default_factory=list)
    text: bytes = b""
    reason: StopReason | None = None
    matched: str | None = None
    rng: np.random.Generator = field(init=False)
    prefilled: int = 0  # prompt tokens already in the KV cache
    reused: int = 0     # of those, how many another sequence had computed

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(_SEED if self.seed is None else self.seed)

    @property
    def prefilling(self) -> bool:
        return self.prefilled < len(self.prompt)

    def recent_tokens(self) -> list[int]:
        """The last ``repeat_last_n`` tokens of prompt and answer: what the repeat penalty looks at."""
        wanted = self.repeat_last_n
        recent = self.tokens[-wanted:]
        if len(recent) < wanted:
            recent = self.prompt[len(self.prompt) - (wanted - len(recent)):] + recent
        return recent


@dataclass
class _Slot(Generic[Key]):
    key: Key
    sequence: Decoding


class BatchDecoder(Generic[Key]):
    def __init__(self, model: object, vocab: object, n_ctx: int, n_seq: int, n_threads: int, n_batch: int = 512) -> None:
        n_batch = max(n_batch, n_seq)  # every generating slot's token fits in one step
        params = L.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = n_ctx * (n_seq + 1), n_batch, n_batch
        params.n_seq_max, params.n_threads, params.n_threads_batch = n_seq + 1, n_threads, n_threads
        params.kv_unified = True
        self.ctx = L.llama_init_from_model(model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a batched context")
        self.memory = L.llama_get_memory(self.ctx)
        self.vocab = vocab
        self.n_vocab = L.llama_vocab_n_tokens(vocab)
        self.n_seq, self.n_batch = n_seq, n_batch
        self.batch = L.llama_batch_init(n_batch, 0, 1)
        self.slots: dict[int, _Slot[Key]] = {}  # seq_id -> its sequence, in admission order
        self.kept = n_seq                       # the seq_id holding the last ended sequence's prompt
        self.kept_prompt: list[int] = []

    def close(self) -> None:
        L.llama_batch_free(self.batch)
        L.llama_free(self.ctx)

    @property
    def busy(self) -> bool:
        return bool(self.slots)

    def free_slots(self) -> int:
        return self.n_seq - len(self.slots)

    def admit(self, key: Key, sequence: Decoding) -> None:
        """Give ``sequence`` a free slot; its prompt is prefilled from the next step on."""
        if not sequence.prompt:
            raise ValueError("a sequence needs at least one prompt token")
        if not self.free_slots():
            raise RuntimeError("every slot is busy")
        seq_id = next(seq_id for seq_id in range(self.n_seq) if seq_id not in self.slots)
        source, shared = self._longest_prefix(sequence.prompt)
        if shared:
            L.llama_memory_seq_cp(self.memory, source, seq_id, 0, shared)
            sequence.prefilled = sequence.reused = shared
        self.slots[seq_id] = _Slot(key, sequence)

    def step(self) -> list[tuple[Key, Decoding]]:
        """Decode one batch; returns the sequences that ended in it (their slots are free again)."""
        rows = self._fill()
        if self.batch.n_tokens and L.llama_decode(self.ctx, self.batch) != 0:
            raise RuntimeError("llama_decode failed")
        finished = []
        for seq_id, row in rows.items():
            slot = self.slots[seq_id]
            if self._finished(slot.sequence, self._sample(slot.sequence, row)):
                finished.append((slot.key, slot.sequence))
                self._release(seq_id)
        return finished

    def abandon(self) -> list[tuple[Key, Decoding]]:
        """Drop every sequence (after a failed decode the cache cannot be trusted); they are returned unfinished."""
        dropped = [(slot.key, slot.sequence) for slot in self.slots.values()]
        self.slots.clear()
        self.kept_prompt = []
        L.llama_memory_clear(self.memory, True)
        return dropped

    def _longest_prefix(self, prompt: list[int]) -> tuple[int, int]:
        """The seq_id whose cells hold the longest prefix of ``prompt``, and its length. The last
        prompt token is never shared: its logits give the first token."""
        held = [(self.kept, self.kept_prompt)]
        held += [(seq_id, slot.sequence.prompt[: slot.sequence.prefilled]) for seq_id, slot in self.slots.items()]
        best = (self.kept, 0)
        for seq_id, tokens in held:
            length = _common_length(prompt[:-1], tokens)
            if length > best[1]:
                best = (seq_id, length)
        return best

    def _fill(self) -> dict[int, int]:
        """This step's batch: every generating slot's last token, then prompt chunks in the room
        left. Returns seq_id -> the batch row whose logits give that sequence's next token."""
        self.batch.n_tokens = 0
        rows: dict[int, int] = {}
        for seq_id, slot in self.slots.items():
            sequence = slot.sequence
            if not sequence.prefilling:
                position = len(sequence.prompt) + len(sequence.tokens) - 1
                rows[seq_id] = self._add(sequence.tokens[-1], position, seq_id, True)
        for seq_id, slot in self.slots.items():
            sequence = slot.sequence
            while sequence.prefilling and self.batch.n_tokens < self.n_batch:
                last = sequence.prefilled == len(sequence.prompt) - 1
                row = self._add(sequence.prompt[sequence.prefilled], sequence.prefilled, seq_id, last)
                sequence.prefilled += 1
                if last:
                    rows[seq_id] = row
        return rows

    def _release(self, seq_id: int) -> None:
        """Free the slot and its cells, but keep its prompt's cells for the prompts that share it."""
        prompt = self.slots.pop(seq_id).sequence.prompt
        L.llama_memory_seq_rm(self.memory, self.kept, -1, -1)
        L.llama_memory_seq_cp(self.memory, seq_id, self.kept, 0, len(prompt))
        L.llama_memory_seq_rm(self.memory, seq_id, -1, -1)
        self.kept_prompt = prompt

    def _add(self, token: int, position: int, seq_id: int, logits: bool) -> int:
        index = int(self.batch.n_tokens)
        self.batch.token[index] = token
        self.batch.pos[index] = position
        self.batch.n_seq_id[index] = 1
        self.batch.seq_id[index][0] = seq_id
        self.batch.logits[index] = logits
        self.batch.n_tokens = index + 1
        return index

    def _logits(self, row: int) -> np.ndarray:
        pointer = L.llama_get_logits_ith(self.ctx, row)
        return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,))

    def _sample(self, sequence: Decoding, row: int) -> int:
        logits = self._logits(row)
        if sequence.repeat_penalty != 1.0 and sequence.repeat_last_n > 0:
            logits = _penalize(logits, sequence.recent_tokens(), sequence.repeat_penalty)
        if not sequence.temperature:
            return int(np.argmax(logits))
        count = min(sequence.top_k or CANDIDATES, CANDIDATES, self.n_vocab)
        candidates = np.argpartition(logits, -count)[-count:]
        scaled = logits[candidates].astype(np.float64) / sequence.temperature
        order = np.argsort(-scaled)
        candidates, scaled = candidates[order], scaled[order]
        probabilities = np.exp(scaled - scaled[0])
        probabilities /= probabilities.sum()
        if sequence.top_p is not None and sequence.top_p < 1.0:
            keep = int(np.searchsorted(np.cumsum(probabilities), sequence.top_p)) + 1
            candidates, probabilities = candidates[:keep], probabilities[:keep] / probabilities[:keep].sum()
        # drawn in token order, not probability order: two near-equal tokens whose order flips with
        # the rounding of a differently composed batch must not swap the seeded draw's answer
        by_token = np.argsort(candidates)
        return int(candidates[by_token][sequence.rng.choice(len(candidates), p=probabilities[by_token])])

    def _finished(self, sequence: Decoding, token: int) -> bool:
        """Take ``token`` into ``sequence`` unless it ends it; True when the sequence is over."""
        if L.llama_vocab_is_eog(self.vocab, token):
            sequence.reason = StopReason.END
            return True
        sequence.tokens.append(token)
        sequence.text += self._piece(token)
        if sequence.stop_sequences:
            matched = find_stop(sequence.text.decode("utf-8", errors="ignore"), sequence.stop_sequences)
            if matched is not None:
                sequence.reason, sequence.matched = StopReason.STOP_SEQUENCE, matched
                return True
        if len(sequence.tokens) >= sequence.max_tokens:
            sequence.reason = StopReason.LENGTH
            return True
        return False

    def _piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        size = L.llama_token_to_piece(self.vocab, token, buffer, len(buffer), 0, False)
        return buffer.raw[: max(size, 0)]


def _penalize(logits: np.ndarray, recent: list[int], penalty: float) -> np.ndarray:
    """llama.cpp's repeat penalty: a recent token's logit is divided by ``penalty`` when positive,
    multiplied when negative, so it is always made less likely."""
    tokens = np.unique(np.asarray(recent, dtype=np.int64))
    penalized = logits.copy()
    values = penalized[tokens]
    penalized[tokens] = np.where(values > 0, values / penalty, values * penalty)
    return penalized


def _common_length(first: list[int], second: list[int]) -> int:
    length = min(len(first), len(second))
    for index in range(length):
        if first[index] != second[index]:
            return index
    return length
