"""Anthropic Claude Messages (``anthropic_version: bedrock-2023-05-31``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Annotated, Any, Literal

import msgspec
from msgspec.structs import astuple

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
from batchrock.formats.sampling import SampledBlock


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


# A StopReason hashes in Python (it is an Enum); added to "" it is the plain string of its value, in C
_PLAIN = "".__add__
_STOP_NAMES = {reason.value: name for reason, name in STOP_REASONS.items()}


def _message_ids(keys: Sequence[int]) -> list[str]:
    """``msg_bdrk_`` and the record's key in 24 hex digits (the job id's CRC, the file's index and
    the record's number): the same for the same record of the same job however often it runs, so
    a re-run writes the same line, and different for any two records of the job."""
    if isinstance(keys, range) and keys.step == 1:
        return _consecutive_ids(keys.start, keys.stop)
    return list(map("msg_bdrk_".__add__, map(bytes.hex, map(int.to_bytes, keys, repeat(12)))))


_LOW_DIGITS = [f"{low:03x}" for low in range(0x1000)]  # a key's last three hex digits


def _consecutive_ids(first: int, stop: int) -> list[str]:
    """The ids of keys ``first`` to ``stop`` - 1, as ``_message_ids`` spells them: a run of keys
    shares all but its last three digits, so each id is one string added to a prefix."""
    ids: list[str] = []
    while first < stop:
        high, low = divmod(first, 0x1000)
        end = min(stop, (high + 1) * 0x1000)
        ids += map(f"msg_bdrk_{high:021x}".__add__, _LOW_DIGITS[low:low + end - first])
        first = end
    return ids


class _AnswerContent(msgspec.Struct, array_like=True, gc=False):
    """The answer's one text block, encoded as a list of it (a struct, not a list, for the collector to skip)."""

    block: _TextBlock  # encodes as {"type": "text", "text": ...}, as it decodes


class _Usage(msgspec.Struct, gc=False):
    input_tokens: int
    output_tokens: int


class MessagesAnswer(msgspec.Struct, gc=False):
    """A Messages answer: its fields, in the API's order, are the keys of the JSON it encodes as."""

    id: str
    type: str
    role: str
    model: str
    content: _AnswerContent
    stop_reason: str
    stop_sequence: str | None
    usage: _Usage


# Bodies are decoded a block at a time and never changed, so they cannot hold a reference cycle:
# kept out of the garbage collector (gc=False), a block of them does not set off a collection.
class _TextBlock(msgspec.Struct, tag_field="type", tag="text", gc=False):
    text: str


_Content = str | Annotated[list[_TextBlock], msgspec.Meta(min_length=1)]
_Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class _Turn(msgspec.Struct, gc=False):
    role: Literal["user", "assistant"]
    content: _Content


class _Body(msgspec.Struct, gc=False):
    """A well-formed request, decoded and checked in one pass; anything else goes to ``parse``."""

    anthropic_version: str
    messages: Annotated[list[_Turn], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=200_000)]
    system: _Content | None = None
    temperature: _Unit | None = None
    top_p: _Unit | None = None
    top_k: Annotated[int, msgspec.Meta(ge=0, le=500)] | None = None
    stop_sequences: Annotated[list[str], msgspec.Meta(max_length=8191)] | None = None


class _PlainBody(msgspec.Struct, gc=False):
    """A well-formed request whose turns and system prompt are plain strings, as most are: its turns
    decode straight into the backend's Messages, with nothing rebuilt per record."""

    anthropic_version: str
    messages: Annotated[tuple[Message, ...], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=200_000)]
    system: str | None = None
    temperature: _Unit | None = None
    top_p: _Unit | None = None
    top_k: Annotated[int, msgspec.Meta(ge=0, le=500)] | None = None
    stop_sequences: Annotated[tuple[str, ...], msgspec.Meta(max_length=8191)] = ()


_BODY = msgspec.json.Decoder(_Body)
_BODIES = msgspec.json.Decoder(list[_Body])
_PLAIN_BODY = msgspec.json.Decoder(_PlainBody)
_PLAIN_BODIES = msgspec.json.Decoder(list[_PlainBody])
_CHAT = RequestKind.CHAT  # looking up an Enum member costs more than a global, on this per-record path
_ROLES = frozenset(("user", "assistant"))


def _joined(content: _Content) -> str:
    return content if isinstance(content, str) else "\n".join(block.text for block in content)


def _request_of(body: _Body, temperature: float | None = None, top_p: float | None = None,
                seed: int | None = None) -> GenerationRequest | None:
    """The body's request; ``temperature`` and ``top_p`` where the body leaves them unset."""
    turns = body.messages
    # a slice compared costs less than a method called, on this per-record path
    if body.anthropic_version[:8] != "bedrock-" or turns[0].role != "user":
        return None
    if len(turns) == 1:  # as most records are; without a comprehension's frame
        turn = turns[0]
        messages: tuple[Message, ...] = (Message(turn.role, turn.content if type(turn.content) is str
                                                 else _joined(turn.content)),)
    else:
        messages = tuple([Message(turn.role, _joined(turn.content)) for turn in turns])
    system = None if body.system is None else _joined(body.system)
    stops = () if body.stop_sequences is None else tuple(body.stop_sequences)
    return GenerationRequest(_CHAT, messages, system, None, body.max_tokens,
                             temperature if body.temperature is None else body.temperature,
                             top_p if body.top_p is None else body.top_p, body.top_k, stops, seed=seed)


def _plain_request_of(body: _PlainBody, temperature: float | None = None, top_p: float | None = None,
                      seed: int | None = None) -> GenerationRequest | None:
    """``_request_of`` for a plain body: its turns are the request's messages as they are."""
    turns = body.messages
    if body.anthropic_version[:8] != "bedrock-" or turns[0].role != "user":
        return None
    if len(turns) > 1 and not _ROLES.issuperset([turn.role for turn in turns]):
        return None  # a role the API does not know: ``parse`` names it
    return GenerationRequest(_CHAT, turns, body.system, None, body.max_tokens,
                             temperature if body.temperature is None else body.temperature,
                             top_p if body.top_p is None else body.top_p, body.top_k, body.stop_sequences, seed=seed)


def _decoded(raws: Sequence[bytes]) -> tuple[list[_PlainBody] | list[_Body], Callable[..., GenerationRequest | None]]:
    """The bodies (each raw one whole JSON value, joined with commas into an array of as many),
    decoded plain where every one is, and how each becomes a request."""
    joined = b"[" + b",".join(raws) + b"]"
    try:
        return _PLAIN_BODIES.decode(joined), _plain_request_of
    except msgspec.MsgspecError:  # a turn with content blocks, or a body that is not valid at all
        return _BODIES.decode(joined), _request_of


class AnthropicMessages:
    name = "anthropic-messages"

    def decode(self, raw: bytes) -> GenerationRequest | None:
        """The fast path for a valid body (raises msgspec errors, or None, for anything ``parse`` must judge)."""
        try:
            return _plain_request_of(_PLAIN_BODY.decode(raw))
        except msgspec.MsgspecError:  # content blocks, or not valid: the general decoder says which
            return _request_of(_BODY.decode(raw))

    def decode_many(self, raws: Sequence[bytes],
                    sampled: SampledBlock | None = None) -> list[GenerationRequest | None] | None:
        """``decode`` of each body, in one call, completed with ``sampled``. Each raw must be one whole
        JSON value (a record's modelInput, as its line's decoder found it): joined with commas, they
        make an array of as many."""
        bodies, request_of = _decoded(raws)
        if len(bodies) != len(raws):
            return None
        if sampled is None:
            return list(map(request_of, bodies))
        return list(map(request_of, bodies, repeat(sampled.temperature), repeat(sampled.top_p), sampled.seeds))

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

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str,
               key: int = 0) -> MessagesAnswer:
        """``key``: the record's key in its job (``engine.blocks.record_key``), which the answer's id spells."""
        return self.render_many([request], [result], model_id, [key])[0]

    def render_many(self, requests: Sequence[GenerationRequest], results: Sequence[GenerationResult],
                    model_id: str, keys: Sequence[int]) -> list[MessagesAnswer]:
        """Each request's answer, built a field at a time for all (in C's loops: no frame per record)."""
        if not results:
            return []
        texts, reasons, sequences, tokens_in, tokens_out, _embeddings = zip(*map(astuple, results), strict=True)
        return list(map(MessagesAnswer, _message_ids(keys), repeat("message"), repeat("assistant"),
                        repeat(anthropic_model_name(model_id)), map(_AnswerContent, map(_TextBlock, texts)),
                        map(_STOP_NAMES.__getitem__, map(_PLAIN, reasons)), sequences,
                        map(_Usage, tokens_in, tokens_out)))
