"""Catalog resolution, the backend registry, typed backend options and the helpers backends share."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from batchrock.backends.base import (
    BackendOptions,
    BadBackendOptions,
    GenerationRequest,
    GenerationResult,
    Message,
    RequestKind,
)
from batchrock.backends.echo import EchoBackend
from batchrock.backends.registry import GROUP, BackendRegistry, UnknownBackend
from batchrock.backends.text import chat_messages, find_stop, render_prompt
from batchrock.catalog import Catalog, CatalogError, bare_model_id
from tests.conftest import ECHO_CATALOG

BUILTINS = {"echo", "llamacpp", "minilm", "openai", "transformers"}


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


def test_builtin_backends_are_entry_points_like_plugins() -> None:
    assert {entry.name for entry in entry_points(group=GROUP)} >= BUILTINS
    assert set(BackendRegistry.from_entry_points().known()) >= BUILTINS


def test_only_the_backend_named_is_imported() -> None:
    code = ("import sys; from pathlib import Path; from batchrock.backends.registry import BackendRegistry; "
            "from batchrock.catalog import Catalog; registry = BackendRegistry.from_entry_points(); "
            f"Catalog.load(Path({ECHO_CATALOG!r}), registry); registry.backend_for('echo', registry.options_for('echo', {{}})); "
            "print(sorted({'aiohttp', 'numpy', 'llama_cpp', 'torch'} & set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_transformers_backend_imports_without_torch() -> None:
    code = "import sys; import batchrock.backends.hf_transformers; assert 'torch' not in sys.modules; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "ok"


def test_every_catalog_the_tests_use_fits_its_backends() -> None:
    for path in [None, *Path(ECHO_CATALOG).parent.glob("*.toml")]:
        Catalog.load(path)


def write_catalog(path: Path, table: str) -> Path:
    path.write_text(f'[backends.smollm2]\n{table}\n\n[[models]]\nmatch = ["anthropic.claude-*"]\n'
                    'format = "anthropic-messages"\nbackend = "smollm2"\n')
    return path


def test_an_unknown_catalog_key_stops_the_catalog_naming_it(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "catalog.toml", 'backend = "llamacpp"\nmodel_path = "m.gguf"\nn_ctxx = 4096')
    with pytest.raises(CatalogError, match=r"catalog backend 'smollm2': unknown option 'n_ctxx' for the llamacpp backend"):
        Catalog.load(path)


def test_a_catalog_value_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "catalog.toml", 'backend = "openai"\nbase_url = "http://x"\nmax_in_flight = "many"')
    with pytest.raises(CatalogError, match=r"bad options for the openai backend: Expected `int \| null`, got `str` - at "
                                           r"`\$.max_in_flight`"):
        Catalog.load(path)


def test_echo_crash_options_without_a_host_are_refused_at_load(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "catalog.toml", 'backend = "echo"\ncrash_marker = "BOOM"')
    with pytest.raises(CatalogError, match="crash options need `hosted = true`"):
        Catalog.load(path)


def test_a_backend_that_is_not_installed_is_left_to_the_jobs_naming_it(tmp_path: Path) -> None:
    catalog = Catalog.load(write_catalog(tmp_path / "catalog.toml", 'backend = "nosuch"\nanything = 1'))
    registry = BackendRegistry.from_entry_points()
    with pytest.raises(UnknownBackend, match="no backend named 'nosuch'; known: echo, llamacpp"):
        registry.options_for("nosuch", catalog.backends["smollm2"])


class CountingOptions(BackendOptions, frozen=True):
    reply: str = "counted"


class CountingBackend:
    """A backend registered in code, through the registry's public door."""

    name = "counting"
    options_type = CountingOptions
    hosted = False

    def __init__(self, options: CountingOptions) -> None:
        self.reply = options.reply
        self.closed = False

    async def generate(self, requests: object) -> list[GenerationResult]:
        return [GenerationResult(self.reply)]

    def close(self) -> None:
        self.closed = True


def test_a_registered_backend_is_shared_per_options_and_closed_with_the_registry() -> None:
    registry = BackendRegistry.from_entry_points()
    registry.register("counting", CountingBackend)
    first = registry.backend_for("counting", registry.options_for("counting", {"reply": "a"}))
    again = registry.backend_for("counting", registry.options_for("counting", {"reply": "a"}))
    other = registry.backend_for("counting", registry.options_for("counting", {"reply": "b"}))
    assert isinstance(first, CountingBackend) and isinstance(other, CountingBackend)
    assert first is again and other is not first
    with pytest.raises(BadBackendOptions, match="unknown option 'replies' for the counting backend; it takes: "):
        registry.options_for("counting", {"replies": "a"})
    registry.close()
    assert first.closed and other.closed


def test_something_that_is_no_factory_is_refused_at_registration() -> None:
    with pytest.raises(TypeError, match="is not a backend factory"):
        BackendRegistry().register("nothing", EchoBackend)  # a backend class, but without options_type


def test_prompts_and_stop_sequences_are_built_one_way() -> None:
    chat = GenerationRequest(RequestKind.CHAT, (Message("user", "hi"), Message("assistant", "yo")), system="be brief")
    assert chat_messages(chat) == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                                   {"role": "assistant", "content": "yo"}]
    assert render_prompt(chat, None) == "hi\nyo"
    # a last assistant turn is a prefill: the template renders the turns before it, the answer goes on from it
    assert render_prompt(chat, lambda messages: f"{len(messages)} messages|") == "2 messages|yo"
    completion = GenerationRequest(RequestKind.COMPLETION, prompt="once upon")
    assert render_prompt(completion, lambda messages: "templated") == "once upon"
    assert find_stop("a STOP b END", ("END", "", "STOP")) == "END"  # the request's order, not the text's
    assert find_stop("nothing here", ("END",)) is None
