"""Amazon Titan Text Embeddings: G1 (``amazon.titan-embed-text-v1``) and V2 (``...-v2:0``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from batchrock.backends.base import GenerationRequest, GenerationResult, RequestKind
from batchrock.formats.base import FormatError, field, require_object

_V2_DIMENSIONS = (256, 512, 1024)


class _V2Body(msgspec.Struct):
    inputText: str
    dimensions: Literal[256, 512, 1024] = 1024
    embeddingTypes: Annotated[list[Literal["float", "binary"]], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["float"])
    normalize: bool = True


class _G1Body(msgspec.Struct):
    inputText: str


_V2_BODY = msgspec.json.Decoder(_V2Body)
_G1_BODY = msgspec.json.Decoder(_G1Body)


class TitanEmbedV2:
    name = "titan-embed-v2"

    def decode(self, raw: bytes) -> GenerationRequest:
        """The fast path for a valid body; anything else raises, and ``parse`` names the problem."""
        body = _V2_BODY.decode(raw)
        return GenerationRequest(RequestKind.EMBEDDING, prompt=body.inputText, dimensions=body.dimensions,
                                 normalize=body.normalize, embedding_types=tuple(body.embeddingTypes))

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
        return GenerationRequest(RequestKind.EMBEDDING, prompt=_G1_BODY.decode(raw).inputText, dimensions=1536,
                                 normalize=False)

    def parse(self, body: Any) -> GenerationRequest:
        body = require_object(body)
        return GenerationRequest(kind=RequestKind.EMBEDDING, prompt=field(body, "inputText", str, required=True),
                                 dimensions=1536, normalize=False)

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> dict[str, Any]:
        return {"embedding": list(result.embedding), "inputTextTokenCount": result.input_tokens}
