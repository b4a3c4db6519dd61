"""Anthropic Claude Messages (``anthropic_version: bedrock-2023-05-31``)."""

from __future__ import annotations

import functools
import re
import struct
import zlib
from typing import Annotated, Any, Literal

import msgspec

from batchrock.backends.base import GenerationRequest, GenerationResult, Message, RequestKind
from batchrock.catalog import bare_model_id
from batchrock.formats.base import (
    STOP_REASONS,
    FormatError,
    conversation,
    field,
    int_in,
    number_in,
    require_object,
    string_list,
)


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise FormatError(f"{where} must be a string or a non-empty list of content blocks")
    texts = []
    for index, block in enumerate(content):
        if not isinstance(block, dict) or "type" not in block:
            raise FormatError(f"{where}[{index}] must be a content block with a type")
        if block["type"] == "text":
            texts.append(field(block, "text", str, required=True, where=f"{where}[{index}]"))
        elif block["type"] not in ("image", "document", "tool_use", "tool_result"):
            raise FormatError(f"{where}[{index}].type {block['type']!r} is not a known content block type")
        else:
            raise FormatError(f"{where}[{index}].type {block['type']!r} is not supported by this text-only model")
    return "\n".join(texts)


@functools.lru_cache(maxsize=256)
def anthropic_model_name(model_id: str) -> str:
    """The name Anthropic's responses carry: ``anthropic.claude-3-haiku-20240307-v1:0`` -> ``claude-3-haiku-20240307``."""
    name = bare_model_id(model_id).removeprefix("anthropic.")
    return re.sub(r"-v\d+(:\d+)?$", "", name)


# three unsigned 32-bit numbers, big-endian: .hex() of them reads as "%08x%08x%08x" would, and is
# faster than %-formatting or an f-string on this per-record path
_DIGEST_FIELDS = struct.Struct(">III")


def _message_digest(data: bytes) -> str:
    """24 hex digits, the same for the same answer (so a re-run writes the same line); an id, not a
    seal, so two cheap checksums do where a cryptographic hash would cost more than the rest of the line."""
    return _DIGEST_FIELDS.pack(zlib.crc32(data), zlib.adler32(data), len(data) & 0xFFFFFFFF).hex()


class _TextBlock(msgspec.Struct, tag_field="type", tag="text"):
    text: str


_Content = str | Annotated[list[_TextBlock], msgspec.Meta(min_length=1)]
_Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class _Turn(msgspec.Struct):
    role: Literal["user", "assistant"]
    content: _Content


class _Body(msgspec.Struct):
    """A well-formed request, decoded and checked in one pass; anything else goes to ``parse``."""

    anthropic_version: str
    messages: Annotated[list[_Turn], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=200_000)]
    system: _Content | None = None
    temperature: _Unit | None = None
    top_p: _Unit | None = None
    top_k: Annotated[int, msgspec.Meta(ge=0, le=500)] | None = None
    stop_sequences: Annotated[list[str], msgspec.Meta(max_length=8191)] | None = None


_BODY = msgspec.json.Decoder(_Body)


def _joined(content: _Content) -> str:
    return content if isinstance(content, str) else "\n".join(block.text for block in content)


class AnthropicMessages:
    name = "anthropic-messages"

    def decode(self, raw: bytes) -> GenerationRequest | None:
        """The fast path for a valid body (raises msgspec errors, or None, for anything ``parse`` must judge)."""
        body = _BODY.decode(raw)
        if not body.anthropic_version.startswith("bedrock-") or body.messages[0].role != "user":
            return None
        messages = tuple([Message(turn.role, _joined(turn.content)) for turn in body.messages])
        system = None if body.system is None else _joined(body.system)
        stops = () if body.stop_sequences is None else tuple(body.stop_sequences)
        return GenerationRequest(RequestKind.CHAT, messages, system, None, body.max_tokens, body.temperature,
                                 body.top_p, body.top_k, stops)

    def parse(self, body: Any) -> GenerationRequest:
        body = require_object(body)
        version = field(body, "anthropic_version", str, required=True)
        if not version.startswith("bedrock-"):
            raise FormatError("anthropic_version must be a Bedrock version such as 'bedrock-2023-05-31'")
        system = body.get("system")
        return GenerationRequest(
            kind=RequestKind.CHAT,
            messages=conversation(body.get("messages"), _text_of),
            system=None if system is None else _text_of(system, "system"),
            max_tokens=int_in(body, "max_tokens", 1, 200_000, required=True) or 1,
            temperature=number_in(body, "temperature", 0.0, 1.0),
            top_p=number_in(body, "top_p", 0.0, 1.0),
            top_k=int_in(body, "top_k", 0, 500),
            stop_sequences=string_list(body, "stop_sequences", 8191),
        )

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> dict[str, Any]:
        digest = _message_digest(f"{model_id}\x1f{result.input_tokens}\x1f{result.text}".encode())
        return {
            "id": f"msg_bdrk_{digest}",
            "type": "message",
            "role": "assistant",
            "model": anthropic_model_name(model_id),
            "content": [{"type": "text", "text": result.text}],
            "stop_reason": STOP_REASONS[result.stop_reason],
            "stop_sequence": result.stop_sequence,
            "usage": {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens},
        }
