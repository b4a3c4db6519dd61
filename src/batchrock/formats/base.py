"""Request/response formats: a Bedrock model's body <-> the backend's neutral request and result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any, Protocol, cast

import msgspec
import orjson

from batchrock.backends.base import GenerationRequest, GenerationResult, Message, StopReason
from batchrock.formats.sampling import Sampling

# Why generation stopped, as Anthropic's Messages answer it; Converse took the same names.
STOP_REASONS = {StopReason.END: "end_turn", StopReason.LENGTH: "max_tokens", StopReason.STOP_SEQUENCE: "stop_sequence"}


class FormatError(ValueError):
    """The modelInput does not follow the model's request schema; the message names the field."""


class Format(Protocol):
    name: str

    def parse(self, body: Any) -> GenerationRequest: ...

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> Any:
        """The answer as the model's API gives it: a dict, or a msgspec Struct that encodes as that
        dict would (a struct costs less to build and to encode, on the per-record path)."""

    # Optional: ``def render_many(self, requests, results, model_id, keys) -> list[Any]``, what
    # ``render`` gives for each, in one call, with each record's key for its answer's id (``renderer_of``).
    # Optional: ``def decode(self, raw: bytes) -> GenerationRequest | None``, a typed fast path from
    # the modelInput's JSON for bodies that are valid; it raises a msgspec error or returns None
    # for any other, and ``parse`` then judges the body and names what is wrong.
    # Optional with it: ``def decode_many(self, raws: Sequence[bytes], sampled: SampledBlock | None = None)
    # -> list[GenerationRequest | None] | None``, what ``decode`` gives for each body (each a whole
    # JSON value), in one call, each completed as ``Sampling.apply`` would when ``sampled`` is given;
    # it may raise or return None for the whole block instead, and each body is then decoded alone.


Renderer = Callable[[Sequence[GenerationRequest], Sequence[GenerationResult], str, Sequence[int]], list[Any]]


def renderer_of(fmt: Format) -> Renderer:
    """The format's answers for a call's results, each request's as ``render`` gives it; ``keys``:
    the records' keys in the job (``blocks.record_key``), for a format whose answers carry an id."""
    render_many: Renderer | None = getattr(fmt, "render_many", None)
    if render_many is not None:
        return render_many
    render = fmt.render
    return lambda requests, results, model_id, _keys: list(map(render, requests, results, repeat(model_id)))


def requests_from_json(fmt: Format, raws: Sequence[Any], sampling: Sampling | None = None,
                       record_ids: Sequence[str] = ()) -> list[GenerationRequest | FormatError]:
    """``request_from_json`` for a block of modelInputs (each a whole JSON value): each one's request,
    or the error naming what is wrong with it; decoded in one call while every body in the block is
    valid. With ``sampling``, each request is completed with it (``record_ids``: the records')."""
    decode_many = getattr(fmt, "decode_many", None)
    decoded: list[GenerationRequest | None] | None = None
    if decode_many is not None:
        try:
            decoded = decode_many(raws, None if sampling is None else sampling.for_block(record_ids))
        except msgspec.MsgspecError:
            decoded = None
    if decoded is None:
        decoded = [None] * len(raws)
    elif None not in decoded:
        return cast(list[GenerationRequest | FormatError], decoded)
    return [_request_or_error(fmt, raw, sampling, record_id) if request is None else request
            for request, raw, record_id in zip(decoded, raws, record_ids or repeat(""), strict=False)]


def _request_or_error(fmt: Format, raw: Any, sampling: Sampling | None,
                      record_id: str) -> GenerationRequest | FormatError:
    try:
        request = request_from_json(fmt, raw)
    except FormatError as error:
        return error
    return request if sampling is None else sampling.apply(request, record_id)


def request_from_json(fmt: Format, raw: bytes) -> GenerationRequest:
    """The backend request for a modelInput given as JSON; FormatError names what is wrong."""
    decode = getattr(fmt, "decode", None)
    if decode is not None:
        try:
            request: GenerationRequest | None = decode(raw)
            if request is not None:
                return request
        except msgspec.MsgspecError:
            pass
    try:
        body = orjson.loads(memoryview(raw))  # raw may be a msgspec.Raw view of the line
    except orjson.JSONDecodeError as error:  # what the line's decoder passed over, orjson may refuse (huge integers)
        raise FormatError(f"modelInput cannot be read: {error}") from None
    return fmt.parse(body)


def require_object(body: Any, where: str = "modelInput") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FormatError(f"{where} must be a JSON object")
    return body


def field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False,
          default: Any = None, where: str = "") -> Any:
    """One member of a request body, type-checked; a missing optional member gives ``default``."""
    value = body.get(name)
    if value is None:
        if required:
            raise FormatError(f"{_path(where, name)} is required")
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise FormatError(f"{_path(where, name)} must be of type {'/'.join(k.__name__ for k in kinds)}")
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kinds):
        raise FormatError(f"{_path(where, name)} must be of type {'/'.join(k.__name__ for k in kinds)}")
    return value


def _path(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def number_in(body: dict[str, Any], name: str, low: float, high: float, where: str = "") -> float | None:
    value: float | None = field(body, name, float, where=where)
    if value is not None and not low <= value <= high:
        raise FormatError(f"{where + '.' if where else ''}{name} must be between {low} and {high}")
    return value


def int_in(body: dict[str, Any], name: str, low: int, high: int, *, required: bool = False,
           default: int | None = None, where: str = "") -> int | None:
    value: int | None = field(body, name, int, required=required, default=default, where=where)
    if value is not None and not low <= value <= high:
        raise FormatError(f"{where + '.' if where else ''}{name} must be between {low} and {high}")
    return value


def string_list(body: dict[str, Any], name: str, limit: int, where: str = "") -> tuple[str, ...]:
    values = field(body, name, list, default=[], where=where)
    if len(values) > limit or not all(isinstance(v, str) for v in values):
        raise FormatError(f"{where + '.' if where else ''}{name} must be a list of at most {limit} strings")
    return tuple(values)


def conversation(raw: Any, text_of: Callable[[Any, str], str], where: str = "messages") -> tuple[Message, ...]:
    """A non-empty list of user/assistant turns that starts with the user; ``text_of`` reads a turn's content."""
    if not isinstance(raw, list) or not raw:
        raise FormatError(f"{where} must be a non-empty list")
    turns = []
    for index, item in enumerate(raw):
        turn = f"{where}[{index}]"
        item = require_object(item, turn)
        role = field(item, "role", str, required=True, where=turn)
        if role not in ("user", "assistant"):
            raise FormatError(f"{turn}.role must be 'user' or 'assistant'")
        turns.append(Message(role, text_of(item.get("content"), turn + ".content")))
    if turns[0].role != "user":
        raise FormatError(f"{where}[0].role must be 'user'")
    return tuple(turns)
