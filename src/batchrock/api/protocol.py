"""restJson1 on the server side: HTTP request -> operation input, output -> HTTP body.

Where each input member lives (uri label, query string, header, JSON body) and how each
output member is written come from the operation's shapes in the service model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from botocore.model import OperationModel, Shape

from batchrock.errors import ValidationError

_JSON_TYPES = ("application/json", "application/x-amz-json-1.0", "application/x-amz-json-1.1")


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 (as botocore sends it) or epoch seconds, as an aware UTC datetime."""
    try:
        moment = datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        moment = datetime.fromisoformat(text)
    except OverflowError as error:
        raise ValueError(str(error)) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 with milliseconds and a Z, the form Bedrock answers with."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _convert_scalar(shape: Shape, text: str, name: str) -> Any:
    try:
        if shape.type_name in ("integer", "long"):
            return int(text)
        if shape.type_name in ("float", "double"):
            return float(text)
        if shape.type_name == "boolean":
            return {"true": True, "false": False}[text.lower()]
        if shape.type_name == "timestamp":
            return parse_timestamp(text)
    except (ValueError, KeyError, OverflowError):
        raise ValidationError.from_violations(
            [f"Value '{text[:128]}' at '{name}' failed to satisfy constraint: Member must be a valid {shape.type_name}"]
        ) from None
    return text


def _from_query(shape: Shape, values: list[str], name: str) -> Any:
    if shape.type_name == "list":
        return [_convert_scalar(shape.member, value, name) for value in values]
    return _convert_scalar(shape, values[-1], name)


def _decode_body_value(shape: Shape, value: Any) -> Any:
    """JSON values whose wire form differs from their Python form (timestamps)."""
    if value is None:
        return None
    if shape.type_name == "timestamp" and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return parse_timestamp(str(value))
        except (ValueError, OverflowError):
            return value
    if shape.type_name == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _decode_body_value(members[k], v) if k in members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_decode_body_value(shape.member, item) for item in value]
    return value


def has_body_members(operation: OperationModel) -> bool:
    shape = operation.input_shape
    return shape is not None and any("location" not in m.serialization for m in shape.members.values())


def parse_json_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    if not body.strip():
        return {}
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise ValidationError(f"Unsupported Content-Type '{content_type or ''}': send the body as application/json.")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ValidationError(f"The request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValidationError("The request body must be a JSON object.")
    return document


def decode_input(
    operation: OperationModel,
    labels: Mapping[str, str],
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: dict[str, Any],
) -> dict[str, Any]:
    """The operation's input as one dict, named by member, with typed values."""
    shape = operation.input_shape
    if shape is None:
        return {}
    query_values: dict[str, list[str]] = {}
    for key, value in query:
        query_values.setdefault(key, []).append(value)
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri" and wire_name in labels:
            params[name] = labels[wire_name]
        elif location == "querystring" and wire_name in query_values:
            params[name] = _from_query(member, query_values[wire_name], name)
        elif location == "header" and wire_name.lower() in headers:
            params[name] = _convert_scalar(member, headers[wire_name.lower()], name)
        elif location is None and body.get(wire_name) is not None:
            params[name] = _decode_body_value(member, body[wire_name])
    return params


def encode_output(shape: Shape | None, value: Any) -> Any:
    """A response value shaped for the wire: absent members omitted, timestamps as ISO-8601."""
    if shape is None or value is None:
        return None
    return _encoder(shape)(value)


Encoder = Callable[[Any], Any]
_ENCODERS: dict[str, Encoder] = {}


def _encoder(shape: Shape) -> Encoder:
    """The shape's encoder, built once per shape from the model (walking botocore shapes per call is slow)."""
    encoder = _ENCODERS.get(shape.name)
    if encoder is None:
        encoder = _ENCODERS[shape.name] = _build_encoder(shape)
    return encoder


def _identity(value: Any) -> Any:
    return value


def _build_encoder(shape: Shape) -> Encoder:
    kind = shape.type_name
    if kind == "structure":
        members = [(name, member.serialization.get("name", name), member) for name, member in shape.members.items()]

        def encode_structure(value: dict[str, Any]) -> dict[str, Any]:
            encoded = {}
            for name, wire_name, member in members:
                item = value.get(name)
                if item is not None:
                    encoded[wire_name] = _encoder(member)(item)
            return encoded

        return encode_structure
    if kind == "list":
        return lambda value: [_encoder(shape.member)(item) for item in value]
    if kind == "map":
        return lambda value: {key: _encoder(shape.value)(item) for key, item in value.items()}
    if kind == "timestamp":
        return format_timestamp
    return _identity
