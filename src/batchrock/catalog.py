"""The model catalog: a Bedrock ``modelId`` -> (format, backend, backend options).

The built-in default lives in ``catalog_default.toml``; ``--catalog FILE`` (or
``BATCHROCK_CATALOG``) replaces it. Model paths of the form ``package:NAME/FILE`` point into
an installed Python package (the GGUF files that PyPI packages ship), found without
importing the package.

Each ``[backends.NAME]`` table's keys are checked against the options its backend declares
when the catalog loads, so a misspelt key stops ``batchrock serve`` (and ``batchrock models``)
at once, naming the key. A backend that is not installed, or fails to load, is left for the
jobs that name it to fail on.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchrock.backends.base import BadBackendOptions
from batchrock.backends.registry import BackendRegistry, UnknownBackend

_DEFAULT = Path(__file__).with_name("catalog_default.toml")
_PROFILE_PREFIX = re.compile(r"^(us|eu|apac|global|us-gov|ca|jp|au)\.")
_ARN = re.compile(r"arn:aws[^:]*:bedrock:[^:]*:[^:]*:"
                  r"(?:foundation-model|inference-profile|application-inference-profile)/(?P<id>.+)")


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class ModelEntry:
    model_id: str
    format: str
    backend: str
    options: dict[str, Any] = field(default_factory=dict)


def resolve_package_path(value: str) -> str:
    if not value.startswith("package:"):
        return value
    package, _, relative = value[len("package:"):].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CatalogError(f"package {package!r} is not installed (needed for {value})")
    return str(Path(next(iter(spec.submodule_search_locations))) / relative)


def bare_model_id(model_id: str) -> str:
    found = _ARN.fullmatch(model_id)
    bare = found["id"] if found else model_id
    return _PROFILE_PREFIX.sub("", bare)


class Catalog:
    def __init__(self, document: dict[str, Any]) -> None:
        self.backends: dict[str, dict[str, Any]] = document.get("backends", {})
        self.models: list[dict[str, Any]] = document.get("models", [])
        for entry in self.models:
            if entry.get("backend") not in self.backends:
                raise CatalogError(f"catalog model {entry.get('match')} names unknown backend {entry.get('backend')!r}")

    @classmethod
    def load(cls, path: Path | None = None, backends: BackendRegistry | None = None) -> Catalog:
        with open(path or _DEFAULT, "rb") as handle:
            catalog = cls(tomllib.load(handle))
        catalog.check_options(BackendRegistry.from_entry_points() if backends is None else backends)
        return catalog

    def check_options(self, backends: BackendRegistry) -> None:
        for name, table in self.backends.items():
            kind = table.get("backend")
            if not isinstance(kind, str):
                raise CatalogError(f"catalog backend {name!r} names no backend (backend = \"...\")")
            try:
                backends.options_for(kind, {key: value for key, value in table.items() if key != "backend"})
            except UnknownBackend:
                continue
            except BadBackendOptions as error:
                raise CatalogError(f"catalog backend {name!r}: {error}") from None

    def resolve(self, model_id: str) -> ModelEntry | None:
        bare = bare_model_id(model_id)
        for entry in self.models:
            patterns = entry["match"] if isinstance(entry["match"], list) else [entry["match"]]
            if any(fnmatch.fnmatchcase(bare, pattern) or pattern == model_id for pattern in patterns):
                backend = dict(self.backends[entry["backend"]])
                kind = backend.pop("backend")
                if "model_path" in backend:
                    backend["model_path"] = resolve_package_path(backend["model_path"])
                return ModelEntry(bare, entry["format"], kind, backend)
        return None

    def listing(self) -> list[tuple[str, str, str]]:
        """(pattern, format, backend) rows for ``batchrock models``."""
        rows = []
        for entry in self.models:
            patterns = entry["match"] if isinstance(entry["match"], list) else [entry["match"]]
            rows += [(pattern, entry["format"], entry["backend"]) for pattern in patterns]
        return rows
