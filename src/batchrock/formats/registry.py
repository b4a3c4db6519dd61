"""Formats by name (the catalog's ``format`` field)."""

from __future__ import annotations

from batchrock.formats.anthropic import AnthropicMessages
from batchrock.formats.base import Format

FORMATS: dict[str, Format] = {fmt.name: fmt for fmt in (AnthropicMessages(),)}


def format_named(name: str) -> Format:
    if name not in FORMATS:
        raise KeyError(f"no request format named {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]
