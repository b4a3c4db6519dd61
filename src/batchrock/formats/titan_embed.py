"""Amazon Titan Text Embeddings: G1 (``amazon.titan-embed-text-v1``) and V2 (``...-v2:0``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec

from batchrock.backends.base import GenerationRequest, GenerationResult, RequestKind
from batchrock.formats.base import FormatError, field, require_object
from batchrock.formats.sampling import SampledBlock

_V2_DIMENSIONS = (256, 512, 1024)


class _V2Body(msgspec.Struct, gc=False):  # decoded, never changed: no cycle, so nothing for the collector
    inputText: str
    dimensions: Literal[256, 512, 1024] = 1024
    embeddingTypes: Annotated[list[Literal["float", "binary"]], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["float"])
    normalize: bool = True


class _G1Body(msgspec.Struct, gc=False):
    inputText: str


_V2_BODY = msgspec.json.Decoder(_V2Body)
_G1_BODY = msgspec.json.Decoder(_G1Body)
_V2_BODIES = msgspec.json.Decoder(list[_V2Body])
_G1_BODIES = msgspec.json.Decoder(list[_G1Body])
_EMBEDDING = RequestKind.EMBEDDING  # looking up an Enum member costs more than a global, on this per-record path


def _as_array(raws: Sequence[bytes]) -> bytes:
    """Each raw is one whole JSON value (a record's modelInput): joined, an array of exactly as many."""
    return b"[" + b",".join(raws) + b"]"


def _v2_request(body: _V2Body) -> GenerationRequest:
    return GenerationRequest(_EMBEDDING, prompt=body.inputText, dimensions=body.dimensions,
                             normalize=body.normalize, embedding_types=tuple(body.embeddingTypes))


def _g1_request(text: str) -> GenerationRequest:
    return GenerationRequest(_EMBEDDING, prompt=text, dimensions=1536, normalize=False)


class TitanEmbedV2:
    name = "titan-embed-v2"

    def decode(self, raw: bytes) -> GenerationRequest:
        """The fast path for a valid body; anything else raises, and ``parse`` names the problem."""
        return _v2_request(_V2_BODY.decode(raw))

    def decode_many(self, raws: Sequence[bytes],
                    sampled: SampledBlock | None = None) -> list[GenerationRequest | None] | None:
        """``decode`` of each body, in one call (embeddings are not sampled: ``sampled`` changes nothing)."""
        bodies = _V2_BODIES.decode(_as_array(raws))
        return [_v2_request(body) for body in bodies] if len(bodies) == len(raws) else None

    def parse(self, body: Any) -> GenerationRequest:
        body = require_object(body)
        text = field(body, "inputText", str, required=True)
        dimensions = field(body, "dimensions", int, default=1024)
        if dimensions not in _V2_DIMENSIONS:
            raise FormatError(f"dimensions must be one of {', '.join(map(str, _V2_DIMENSIONS))}")
        types = field(body, "embeddingTypes", list, default=["float"])
        if not types or any(kind not in ("float", "binary") for kind in types):
            raise FormatError("embeddingTypes must list 'float' and/or 'binary'")
        return GenerationRequest(kind=RequestKind.EMBEDDING, prompt=text, dimensions=dimensions,
                                 normalize=field(body, "normalize", bool, default=True),
                                 embedding_types=tuple(types))

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> dict[str, Any]:
        vector = list(result.embedding)
        by_type: dict[str, Any] = {}
        for kind in request.embedding_types:
            by_type[kind] = vector if kind == "float" else [1 if value > 0 else 0 for value in vector]
        return {"embedding": vector, "inputTextTokenCount": result.input_tokens, "embeddingsByType": by_type}


class TitanEmbedG1:
    name = "titan-embed-g1"

    def decode(self, raw: bytes) -> GenerationRequest:
        return _g1_request(_G1_BODY.decode(raw).inputText)

    def decode_many(self, raws: Sequence[bytes],
                    sampled: SampledBlock | None = None) -> list[GenerationRequest | None] | None:
        bodies = _G1_BODIES.decode(_as_array(raws))
        return [_g1_request(body.inputText) for body in bodies] if len(bodies) == len(raws) else None

    def parse(self, body: Any) -> GenerationRequest:
        body = require_object(body)
        return GenerationRequest(kind=RequestKind.EMBEDDING, prompt=field(body, "inputText", str, required=True),
                                 dimensions=1536, normalize=False)

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> dict[str, Any]:
        return {"embedding": list(result.embedding), "inputTextTokenCount": result.input_tokens}
