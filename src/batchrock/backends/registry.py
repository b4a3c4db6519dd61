"""Backend plugins by name. Built-ins register here the same way as third-party ones
(``batchrock.backends`` entry points are loaded too).

A backend registered ``hosted`` (the in-process model runners: llama.cpp, transformers,
MiniLM) runs in a model host process (``backends.host``), so a crash in native code takes
nothing else down; the catalog option ``hosted = true|false`` overrides that per backend.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from batchrock.backends.base import Backend

BackendFactory = Callable[[dict[str, Any]], Backend]

_FACTORIES: dict[str, BackendFactory] = {}
_HOSTED: set[str] = set()
_INSTANCES: dict[tuple[str, str], Backend] = {}
_LOCK = threading.Lock()


class UnknownBackend(LookupError):
    pass


def register(name: str, factory: BackendFactory, hosted: bool = False) -> None:
    _FACTORIES[name] = factory
    if hosted:
        _HOSTED.add(name)
    else:
        _HOSTED.discard(name)


# Built-in backends by name; each module registers itself when imported, as a plugin does, and
# only the backends a job names are imported (the OpenAI client or numpy cost nothing to an echo job).
_BUILTINS = {
    "echo": "batchrock.backends.echo",
    "llamacpp": "batchrock.backends.llamacpp",
    "minilm": "batchrock.backends.minilm",
    "openai": "batchrock.backends.openai_compat",
    "transformers": "batchrock.backends.hf_transformers",
}


def _load(name: str) -> None:
    if name in _BUILTINS:
        importlib.import_module(_BUILTINS[name]).register_plugin()
        return
    for entry in entry_points(group="batchrock.backends"):
        entry.load()()


def _factory(name: str) -> BackendFactory:
    if name not in _FACTORIES:
        _load(name)
    if name not in _FACTORIES:
        raise UnknownBackend(f"no backend named {name!r}; known: {', '.join(known_backends())}")
    return _FACTORIES[name]


def is_hosted(name: str, options: dict[str, Any]) -> bool:
    return bool(options.get("hosted", name in _HOSTED))


def backend_for(name: str, options: dict[str, Any]) -> Backend:
    """The shared instance for (backend name, options): a model loads once per process (or host)."""
    key = (name, repr(sorted(options.items())))
    with _LOCK:
        if key not in _INSTANCES:
            factory = _factory(name)
            if is_hosted(name, options):
                from batchrock.backends.host import HostedBackend

                _INSTANCES[key] = HostedBackend(name, options)
            else:
                _INSTANCES[key] = factory(options)
        return _INSTANCES[key]


def create_local(name: str, options: dict[str, Any]) -> Backend:
    """A new in-process instance, whatever the hosting rule (what a model host runs)."""
    with _LOCK:
        factory = _factory(name)
    return factory(options)


def close_all() -> None:
    """Close every backend made here (model hosts end with them)."""
    with _LOCK:
        instances = list(_INSTANCES.values())
        _INSTANCES.clear()
    for backend in instances:
        backend.close()


def known_backends() -> list[str]:
    for name in _BUILTINS:
        if name not in _FACTORIES:
            _load(name)
    for entry in entry_points(group="batchrock.backends"):
        entry.load()()
    return sorted(_FACTORIES)
