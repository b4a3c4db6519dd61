"""Server-side validation of request parameters against botocore shapes.

botocore's client checks only required members, minimums and union cardinality; the
server must also enforce ``max``, ``pattern``, ``enum``, numeric ranges and types.
Violations are phrased as AWS (Coral) phrases them:
``Value 'x' at 'jobName' failed to satisfy constraint: Member must ...``.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from batchrock.errors import ValidationError

_SHOWN_VALUE_CHARS = 128


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def validate(shape: Shape, params: dict[str, Any]) -> None:
    """Raise one ValidationError listing every violation in ``params``."""
    violations: list[str] = []
    _check_structure(shape, params, "", violations)
    if violations:
        raise ValidationError.from_violations(violations)


def _shown(value: Any) -> str:
    text = str(value)
    if len(text) > _SHOWN_VALUE_CHARS:
        text = text[:_SHOWN_VALUE_CHARS] + "..."
    return text


def _fail(value: Any, path: str, rule: str) -> str:
    return f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must {rule}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    checker = _CHECKERS.get(shape.type_name)
    if checker is not None:
        checker(shape, value, path, out)


def _check_structure(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if not isinstance(value, dict):
        out.append(f"Value at '{path}' failed to satisfy constraint: Member must be a JSON object")
        return
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            out.append(f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null")
    if shape.metadata.get("union"):
        _check_union(shape, value, path, out)
    for name, member_value in value.items():
        if name in members and member_value is not None:
            _check(members[name], member_value, _join(path, name), out)


def _check_union(shape: Shape, value: dict[str, Any], path: str, out: list[str]) -> None:
    known = sorted(shape.members)
    set_members = [name for name in known if value.get(name) is not None]
    if len(set_members) != 1:
        out.append(
            f"Value at '{path}' failed to satisfy constraint: Member must have exactly one of "
            f"[{', '.join(known)}] set, found {len(set_members)}"
        )


def _check_list(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if not isinstance(value, list):
        out.append(f"Value at '{path}' failed to satisfy constraint: Member must be a list")
        return
    _check_length(shape, value, len(value), path, out)
    for index, item in enumerate(value, start=1):
        _check(shape.member, item, f"{path}.{index}.member", out)


def _check_map(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if not isinstance(value, dict):
        out.append(f"Value at '{path}' failed to satisfy constraint: Member must be a JSON object")
        return
    _check_length(shape, value, len(value), path, out)
    for key, item in value.items():
        _check(shape.key, key, f"{path}.{key}.key", out)
        _check(shape.value, item, f"{path}.{key}.value", out)


def _check_string(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if not isinstance(value, str):
        out.append(f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must be a string")
        return
    if shape.enum:
        if value not in shape.enum:
            out.append(_fail(value, path, f"satisfy enum value set: [{', '.join(shape.enum)}]"))
        return
    _check_length(shape, value, len(value), path, out)
    pattern = shape.metadata.get("pattern")
    if pattern is not None and _compiled(pattern).fullmatch(value) is None:
        out.append(_fail(value, path, f"satisfy regular expression pattern: {pattern}"))


def _check_length(shape: Shape, value: Any, length: int, path: str, out: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        out.append(_fail(value, path, f"have length greater than or equal to {low}"))
    if high is not None and length > high:
        out.append(_fail(value, path, f"have length less than or equal to {high}"))


def _check_integer(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        out.append(f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must be an integer")
        return
    _check_range(shape, value, path, out)


def _check_number(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        out.append(f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must be a number")
        return
    _check_range(shape, value, path, out)


def _check_range(shape: Shape, value: float, path: str, out: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        out.append(_fail(value, path, f"have value greater than or equal to {low}"))
    if high is not None and value > high:
        out.append(_fail(value, path, f"have value less than or equal to {high}"))


def _check_boolean(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if not isinstance(value, bool):
        out.append(f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must be a boolean")


def _check_timestamp(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if not isinstance(value, datetime):
        out.append(f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: Member must be a timestamp")


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
}
