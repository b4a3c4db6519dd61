"""Backend plugins by name. Built-ins register here the same way as third-party ones
(``batchrock.backends`` entry points are loaded too)."""

from __future__ import annotations

import threading
from importlib.metadata import entry_points
from typing import Any, Callable

from batchrock.backends.base import Backend

BackendFactory = Callable[[dict[str, Any]], Backend]

_FACTORIES: dict[str, BackendFactory] = {}
_INSTANCES: dict[tuple[str, str], Backend] = {}
_LOCK = threading.Lock()


class UnknownBackend(LookupError):
    pass


def register(name: str, factory: BackendFactory) -> None:
    _FACTORIES[name] = factory


def _load_builtins() -> None:
    from batchrock.backends import echo, hf_transformers, llamacpp, minilm, openai_compat

    for module in (echo, llamacpp, minilm, openai_compat, hf_transformers):
        module.register_plugin()
    for entry in entry_points(group="batchrock.backends"):
        entry.load()()


def backend_for(name: str, options: dict[str, Any]) -> Backend:
    """The shared instance for (backend name, options): a model loads once per process."""
    key = (name, repr(sorted(options.items())))
    with _LOCK:
        if not _FACTORIES:
            _load_builtins()
        if key not in _INSTANCES:
            if name not in _FACTORIES:
                raise UnknownBackend(f"no backend named {name!r}; known: {', '.join(sorted(_FACTORIES))}")
            _INSTANCES[key] = _FACTORIES[name](options)
        return _INSTANCES[key]


def known_backends() -> list[str]:
    with _LOCK:
        if not _FACTORIES:
            _load_builtins()
        return sorted(_FACTORIES)
