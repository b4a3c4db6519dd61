"""Catalog resolution and the backend plugin registry."""

from __future__ import annotations

import subprocess
import sys

from batchrock.backends import registry
from batchrock.catalog import Catalog, bare_model_id


def test_ids_profiles_and_arns_resolve() -> None:
    catalog = Catalog.load()
    for model_id, fmt in [
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic-messages"),
        ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic-messages"),
        ("arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-1-8b-instruct-v1:0", "meta-llama"),
        ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.nova-lite-v1:0", "nova"),
        ("mistral.mistral-7b-instruct-v0:2", "mistral-text"),
        ("amazon.titan-text-express-v1", "titan-text"),
        ("amazon.titan-embed-text-v2:0", "titan-embed-v2"),
    ]:
        entry = catalog.resolve(model_id)
        assert entry is not None and entry.format == fmt, model_id
    assert catalog.resolve("cohere.command-r-v1:0") is None
    assert bare_model_id("global.anthropic.claude-x") == "anthropic.claude-x"


def test_builtin_backends_register_like_plugins() -> None:
    assert {"echo", "llamacpp", "openai", "minilm", "transformers"} <= set(registry.known_backends())


def test_transformers_backend_imports_without_torch() -> None:
    code = "import sys; import batchrock.backends.hf_transformers; assert 'torch' not in sys.modules; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "ok"
