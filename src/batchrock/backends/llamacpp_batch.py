"""Several sequences per llama.cpp decode step (llama.cpp's low-level batch API).

One context holds up to ``n_seq`` sequences in a unified KV cache. Prompts are prefilled
together; then every step decodes one token for each live sequence in a single
``llama_decode`` call, so matrix-vector work becomes matrix-matrix work. Sampling (greedy at
temperature 0, else temperature / top-k / top-p with a fixed seed) runs in numpy on each
sequence's logits.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import llama_cpp as L
import numpy as np

from batchrock.backends.base import StopReason

_SEED = 1234


@dataclass
class Sequence:
    prompt: list[int]
    max_tokens: int
    temperature: float | None
    top_p: float | None
    top_k: int | None
    stop_sequences: tuple[str, ...]
    tokens: list[int] = field(default_factory=list)
    text: bytes = b""
    reason: StopReason | None = None
    matched: str | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(_SEED))


class BatchDecoder:
    def __init__(self, model: object, vocab: object, n_ctx: int, n_seq: int, n_threads: int, n_batch: int = 512) -> None:
        params = L.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = n_ctx * n_seq, n_batch, n_batch
        params.n_seq_max, params.n_threads, params.n_threads_batch = n_seq, n_threads, n_threads
        params.kv_unified = True
        self.ctx = L.llama_init_from_model(model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a batched context")
        self.vocab = vocab
        self.n_vocab = L.llama_vocab_n_tokens(vocab)
        self.n_seq, self.n_batch = n_seq, n_batch
        self.batch = L.llama_batch_init(max(n_batch, n_seq), 0, n_seq)

    def close(self) -> None:
        L.llama_batch_free(self.batch)
        L.llama_free(self.ctx)

    def run(self, sequences: list[Sequence]) -> None:
        """Generate for up to ``n_seq`` sequences at once; fills each one's tokens, text and reason."""
        L.llama_memory_clear(L.llama_get_memory(self.ctx), True)
        pending = self._prefill(sequences)  # seq_id -> the token sampled after its prompt
        while pending:
            self._clear()
            rows: dict[int, int] = {}
            for seq_id, token in pending.items():
                sequence = sequences[seq_id]
                if not self._finished(sequence, token):
                    rows[seq_id] = self._add(token, len(sequence.prompt) + len(sequence.tokens) - 1, seq_id, True)
            if rows and L.llama_decode(self.ctx, self.batch) != 0:
                raise RuntimeError("llama_decode failed")
            pending = {seq_id: self._sample(sequences[seq_id], row) for seq_id, row in rows.items()}

    def _prefill(self, sequences: list[Sequence]) -> dict[int, int]:
        """Decode every prompt in chunks of at most n_batch tokens, sampling each first token
        right after the chunk that holds its prompt's last token (logits last one decode)."""
        first: dict[int, int] = {}
        rows: dict[int, int] = {}
        self._clear()
        for seq_id, sequence in enumerate(sequences):
            for position, token in enumerate(sequence.prompt):
                if self.batch.n_tokens == self.n_batch:
                    self._decode_prefill(sequences, rows, first)
                last = position == len(sequence.prompt) - 1
                row = self._add(token, position, seq_id, last)
                if last:
                    rows[seq_id] = row
        self._decode_prefill(sequences, rows, first)
        return first

    def _decode_prefill(self, sequences: list[Sequence], rows: dict[int, int], first: dict[int, int]) -> None:
        if self.batch.n_tokens and L.llama_decode(self.ctx, self.batch) != 0:
            raise RuntimeError("llama_decode failed during prefill")
        for seq_id, row in rows.items():
            first[seq_id] = self._sample(sequences[seq_id], row)
        rows.clear()
        self._clear()

    def _clear(self) -> None:
        self.batch.n_tokens = 0

    def _add(self, token: int, position: int, seq_id: int, logits: bool) -> int:
        index = self.batch.n_tokens
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

    def _sample(self, sequence: Sequence, row: int) -> int:
        logits = self._logits(row)
        if not sequence.temperature:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / sequence.temperature
        if sequence.top_k:
            cutoff = np.partition(scaled, -sequence.top_k)[-sequence.top_k]
            scaled = np.where(scaled < cutoff, -np.inf, scaled)
        probabilities = np.exp(scaled - scaled.max())
        probabilities /= probabilities.sum()
        if sequence.top_p is not None and sequence.top_p < 1.0:
            order = np.argsort(-probabilities)
            keep = np.cumsum(probabilities[order]) - probabilities[order] < sequence.top_p
            mask = np.zeros_like(probabilities)
            mask[order[keep]] = 1
            probabilities = probabilities * mask / (probabilities * mask).sum()
        return int(sequence.rng.choice(self.n_vocab, p=probabilities))

    def _finished(self, sequence: Sequence, token: int) -> bool:
        if L.llama_vocab_is_eog(self.vocab, token):
            sequence.reason = StopReason.END
            return True
        sequence.tokens.append(token)
        sequence.text += self._piece(token)
        text = sequence.text.decode("utf-8", errors="ignore")
        for stop in sequence.stop_sequences:
            if stop and stop in text:
                sequence.reason, sequence.matched = StopReason.STOP_SEQUENCE, stop
                return True
        if len(sequence.tokens) >= sequence.max_tokens:
            sequence.reason = StopReason.LENGTH
            return True
        return False

    def _piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        size = L.llama_token_to_piece(self.vocab, token, buffer, len(buffer), 0, False)
        return buffer.raw[: max(size, 0)]
