"""Hypothesis strategies drawn from botocore's shapes: valid values, and values that break one rule."""

from __future__ import annotations

from typing import Any

from botocore.model import Shape
from hypothesis import strategies as st

UTF8 = st.characters(codec="utf-8", exclude_categories=("Cs",))


def _sized(shape: Shape, strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max", 2048)
    return strategy.filter(lambda text: low <= len(text) <= high)


def valid(shape: Shape) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "structure":
        return _valid_structure(shape)
    if kind == "list":
        low, high = shape.metadata.get("min", 0), min(shape.metadata.get("max", 3), 3)
        return st.lists(valid(shape.member), min_size=low, max_size=max(low, high))
    if kind == "string":
        if shape.enum:
            return st.sampled_from(list(shape.enum))
        pattern = shape.metadata.get("pattern")
        if pattern:
            return _sized(shape, st.from_regex(pattern, fullmatch=True, alphabet=UTF8))
        return _sized(shape, st.text(UTF8, max_size=64))
    if kind in ("integer", "long"):
        return st.integers(shape.metadata.get("min", 0), shape.metadata.get("max", 10_000))
    if kind == "timestamp":
        return st.datetimes(timezones=st.just(__import__("datetime").timezone.utc))
    raise NotImplementedError(kind)


def _valid_structure(shape: Shape) -> st.SearchStrategy[dict[str, Any]]:
    members = shape.members
    if shape.metadata.get("union"):
        return st.one_of([valid(m).map(lambda v, n=name: {n: v}) for name, m in members.items()])
    required = {name: valid(members[name]) for name in shape.required_members}
    optional = {name: valid(m) for name, m in members.items() if name not in shape.required_members}
    return st.fixed_dictionaries(required, optional=optional)


def invalid_value(shape: Shape) -> st.SearchStrategy[Any]:
    """A value that breaks one of ``shape``'s own rules (or its type)."""
    options: list[st.SearchStrategy[Any]] = [st.sampled_from([None, True, 3.5, ["x"], {"a": 1}])]
    kind = shape.type_name
    if kind == "string":
        if shape.enum:
            options.append(st.text(UTF8, min_size=1, max_size=20).filter(lambda v: v not in shape.enum))
        if "max" in shape.metadata:
            options.append(st.just("a" * (shape.metadata["max"] + 1)))
        if shape.metadata.get("min", 0) > 0:
            options.append(st.just(""))
        if "pattern" in shape.metadata:
            options.append(st.sampled_from([" ", "\t\n", "\u00e9\u00e9 !", "../../etc"]))
    elif kind in ("integer", "long"):
        if "min" in shape.metadata:
            options.append(st.integers(max_value=shape.metadata["min"] - 1))
        if "max" in shape.metadata:
            options.append(st.integers(min_value=shape.metadata["max"] + 1))
        options.append(st.text(max_size=5))
    return st.one_of(options)
