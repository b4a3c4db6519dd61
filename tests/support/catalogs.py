"""Catalog files the tests write for backends whose address is only known at run time."""

from __future__ import annotations

from pathlib import Path


def openai_catalog(path: Path, base_url: str, model_pattern: str, **options: object) -> Path:
    """A catalog mapping ``model_pattern`` (Anthropic Messages format) to an OpenAI-compatible server."""
    settings = "".join(f"{key} = {value!r}\n" if not isinstance(value, str) else f'{key} = "{value}"\n'
                       for key, value in options.items())
    path.write_text(f'[backends.remote]\nbackend = "openai"\nbase_url = "{base_url}"\nmodel = "smollm2"\n{settings}\n'
                    f'[[models]]\nmatch = ["{model_pattern}"]\nformat = "anthropic-messages"\nbackend = "remote"\n')
    return path
