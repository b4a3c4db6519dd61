"""Formats by name (the catalog's ``format`` field)."""

from __future__ import annotations

from batchrock.formats.anthropic import AnthropicMessages
from batchrock.formats.base import Format
from batchrock.formats.completions import MetaLlama, MistralText, TitanText
from batchrock.formats.converse import CONVERSE
from batchrock.formats.nova import Nova
from batchrock.formats.titan_embed import TitanEmbedG1, TitanEmbedV2

FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (AnthropicMessages(), TitanText(), MetaLlama(), MistralText(), Nova(), CONVERSE,
                TitanEmbedV2(), TitanEmbedG1())
}


def format_named(name: str) -> Format:
    if name not in FORMATS:
        raise KeyError(f"no request format named {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]
