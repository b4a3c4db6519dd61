"""Backends by name: the ``batchrock.backends`` entry points, the built-ins' among them.

An entry point names a backend factory (``base.BackendFactory``): its typed options and
whether it runs hosted. Entry points load one at a time, when a catalog or a job names them, so
an echo job never imports aiohttp or numpy. One that fails to load (an import error, an object
that is no factory) is logged once and skipped: the other backends keep working, and a job
naming it fails saying why.

A backend that runs ``hosted`` (the in-process model runners: llama.cpp, transformers, MiniLM)
runs in a model host process (``backends.host``), so a crash in native code takes nothing else
down; the catalog option ``hosted = true|false`` overrides that per backend.

``Runtime`` builds one registry per process and closes it on shutdown, closing every backend it
made (model hosts and connection pools end with them). It also passes an ``instrument`` hook
(``observability.backend_metrics``) that wraps each shared backend for the metrics; the
registry knows nothing of metrics itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

import msgspec

from batchrock.backends.base import Backend, BackendFactory, BackendOptions, BadBackendOptions

GROUP = "batchrock.backends"

# Wraps a backend the registry shares out: (backend name, its options, the backend) -> its stand-in.
Instrument = Callable[[str, BackendOptions, Backend], Backend]

log = logging.getLogger("batchrock.backends")


class UnknownBackend(LookupError):
    """No backend goes by that name, or its plugin failed to load."""


class BackendRegistry:
    def __init__(self, entries: Iterable[EntryPoint] = (), instrument: Instrument | None = None) -> None:
        self._entries: dict[str, EntryPoint] = {}
        for entry in entries:
            self._entries.setdefault(entry.name, entry)  # the first on sys.path wins, as imports do
        self._factories: dict[str, BackendFactory] = {}
        self._broken: dict[str, str] = {}  # name -> why it failed to load
        self._shared: dict[tuple[str, bytes], Backend] = {}
        self._local: list[Backend] = []
        self._lock = threading.RLock()
        self._instrument = instrument

    @classmethod
    def from_entry_points(cls, instrument: Instrument | None = None) -> BackendRegistry:
        return cls(entry_points(group=GROUP), instrument)

    def register(self, name: str, factory: BackendFactory) -> None:
        """A backend by name without an entry point (an application's own, a test's fake)."""
        checked = _checked(factory)
        with self._lock:
            self._factories[name] = checked
            self._broken.pop(name, None)

    def factory(self, name: str) -> BackendFactory:
        with self._lock:
            if name not in self._factories and name not in self._broken:
                self._load(name)
            if name in self._broken:
                raise UnknownBackend(f"the backend {name!r} failed to load: {self._broken[name]}")
            if name not in self._factories:
                raise UnknownBackend(f"no backend named {name!r}; known: {', '.join(self.names())}")
            return self._factories[name]

    def names(self) -> list[str]:
        """Every backend installed or registered, loaded or not."""
        return sorted(self._entries.keys() | self._factories.keys())

    def known(self) -> list[str]:
        """The backends that load (each is loaded to find out)."""
        return [name for name in self.names() if self._loads(name)]

    def options_for(self, name: str, raw: Mapping[str, Any]) -> BackendOptions:
        """A catalog entry's keys as the backend's options; BadBackendOptions names what does not fit."""
        options_type = self.factory(name).options_type
        unknown = sorted(raw.keys() - set(options_type.__struct_fields__))
        if unknown:
            raise BadBackendOptions(f"unknown option {unknown[0]!r} for the {name} backend; it takes: "
                                    f"{', '.join(sorted(options_type.__struct_fields__))}")
        try:
            return msgspec.convert(dict(raw), options_type)
        except msgspec.ValidationError as error:
            raise BadBackendOptions(f"bad options for the {name} backend: {error}") from None

    def backend_for(self, name: str, options: BackendOptions) -> Backend:
        """The shared instance for (backend, options): a model loads once per process (or host)."""
        key = (name, msgspec.json.encode(options))
        with self._lock:
            if key not in self._shared:
                made = self._make(name, options)
                self._shared[key] = made if self._instrument is None else self._instrument(name, options, made)
            return self._shared[key]

    def create_local(self, name: str, options: BackendOptions) -> Backend:
        """A new in-process instance, whatever the hosting rule (what a model host runs)."""
        backend = self.factory(name)(options)
        with self._lock:
            self._local.append(backend)
        return backend

    def close(self) -> None:
        """Close every backend made here; one that fails to close does not keep the others open."""
        with self._lock:
            made = [*self._shared.values(), *self._local]
            self._shared.clear()
            self._local.clear()
        for backend in made:
            try:
                backend.close()
            except Exception:
                log.exception("backend %s failed to close", backend.name)

    def _make(self, name: str, options: BackendOptions) -> Backend:
        factory = self.factory(name)
        if factory.hosted if options.hosted is None else options.hosted:
            from batchrock.backends.host import HostedBackend

            return HostedBackend(name, options)
        return factory(options)

    def _load(self, name: str) -> None:
        entry = self._entries.get(name)
        if entry is None:
            return
        try:
            self._factories[name] = _checked(entry.load())
        except Exception as error:
            self._broken[name] = f"{type(error).__name__}: {error}"
            log.error("backend plugin %r (%s) failed to load and is skipped: %s", name, entry.value, self._broken[name])

    def _loads(self, name: str) -> bool:
        try:
            self.factory(name)
        except UnknownBackend:
            return False
        return True


def _checked(loaded: object) -> BackendFactory:
    options_type = getattr(loaded, "options_type", None)
    if not (callable(loaded) and isinstance(options_type, type) and issubclass(options_type, BackendOptions)
            and isinstance(getattr(loaded, "hosted", None), bool)):
        raise TypeError(f"{loaded!r} is not a backend factory: it needs options_type (a BackendOptions subclass), "
                        "hosted (a bool), and a call that makes the backend from its options")
    return cast(BackendFactory, loaded)
