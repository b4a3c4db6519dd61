"""The architecture as the imports show it: no loop of imports between batchrock's packages, the
HTTP layer never reaches the SQL store, and the domain (``jobs``) depends on no store, engine or API.

A package is a folder under ``src/batchrock`` (``jobs``, ``store``, ``engine``...) or a top-level
module (``errors``, ``settings``...). Every import counts, a function's late ones too.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import batchrock

ROOT = Path(batchrock.__file__).parent


def _package(module: str) -> str | None:
    """``batchrock.jobs.store`` -> ``jobs``; None outside batchrock."""
    parts = module.split(".")
    return parts[1] if parts[0] == "batchrock" and len(parts) > 1 else None


def _imported(node: ast.AST, here: tuple[str, ...]) -> list[str]:
    """The modules an import statement names; ``here``: the importing module's package path."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = ".".join(here[: len(here) - node.level + 1]) if node.level else ""
    module = ".".join(part for part in (base, node.module or "") if part)
    return [f"{module}.{alias.name}" for alias in node.names] if module == "batchrock" else [module]


def package_imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).with_suffix("").parts
        source = relative[0]
        here = ("batchrock", *relative[:-1])
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for module in _imported(node, here):
                target = _package(module)
                if target is not None and target != source:
                    graph[source].add(target)
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    frontier = [start]
    while frontier:
        for target in graph.get(frontier.pop(), set()) - seen:
            seen.add(target)
            frontier.append(target)
    return seen


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph = package_imports()
    loops = sorted((a, b) for a in graph for b in _reachable(graph, a) if a < b and a in _reachable(graph, b))
    assert loops == [], f"import loops between packages: {loops}"


def test_the_domain_and_the_api_stay_off_the_store() -> None:
    graph = package_imports()
    assert {"jobs", "store", "engine", "api"} <= set(graph) | {target for targets in graph.values() for target in targets}
    assert "store" not in graph["api"], "api must reach the job store only through jobs.JobService"
    assert not graph["jobs"] & {"store", "engine", "api"}, "jobs is the domain: the store implements its interface"
