"""Backends as plugins, through the door a third-party package uses: a wheel that declares
``batchrock.backends`` entry points, installed with pip into a folder on ``sys.path``. Its
``shouting`` backend runs jobs; its ``missing`` and ``not-a-factory`` entry points cannot load,
and are skipped without harm to the others. Catalog keys a backend does not declare stop the
catalog; the backends a runtime made are closed with it."""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchrock.backends.base import GenerationRequest, GenerationResult, Message, RequestKind
from batchrock.backends.registry import BackendRegistry, UnknownBackend
from batchrock.catalog import CatalogError
from batchrock.cli.main import main as batchrock
from batchrock.jobs.model import Job, JobSpec, JobStatus, Owner, S3InputConfig, S3OutputConfig
from batchrock.runtime import Runtime
from batchrock.settings import Settings
from tests.support.clients import ACCOUNT, ROLE
from tests.support.jobs import read_output_lines, records, write_jsonl
from tests.support.plugin_wheel import build_wheel

CATALOG = """
[backends.shouting]
backend = "shouting"
suffix = "?!"

[backends.broken]
backend = "missing"

[backends.echo]
backend = "echo"

[[models]]
match = ["shout.*"]
format = "anthropic-messages"
backend = "shouting"

[[models]]
match = ["broken.*"]
format = "anthropic-messages"
backend = "broken"

[[models]]
match = ["echo.*"]
format = "anthropic-messages"
backend = "echo"
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test plugin, installed by pip into a folder of its own that goes first on ``sys.path``."""
    folder = tmp_path_factory.mktemp("plugin")
    wheel = build_wheel(folder)
    target = folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(target), str(wheel)], check=True)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    yield target
    sys.path.remove(str(target))


@pytest.fixture
def runtime(installed: Path, tmp_path: Path) -> Iterator[Runtime]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    runtime = Runtime.build(Settings(data_dir=tmp_path / "data", catalog_path=catalog))
    yield runtime
    runtime.close()


def run_job(runtime: Runtime, model: str, count: int = 5) -> Job:
    write_jsonl(runtime.settings.data_dir / "buckets/bucket/in/a.jsonl", records(count))
    spec = JobSpec(f"job-{time.time_ns()}", ROLE, model, S3InputConfig("s3://bucket/in/"),
                   S3OutputConfig("s3://bucket/out/"), 24)
    created = runtime.service.create(Owner(ACCOUNT, "us-east-1"), spec, [])
    assert runtime.worker().drain(timeout=60)
    ended = runtime.store.get_job_by_id(created.job_id)
    assert ended is not None
    return ended


def shout(backend: Any, text: str) -> str:
    request = GenerationRequest(RequestKind.CHAT, (Message("user", text),))
    [result] = asyncio.run(backend.generate([request]))
    assert isinstance(result, GenerationResult), result
    return result.text


def test_the_plugin_is_found_by_its_entry_point(installed: Path) -> None:
    registry = BackendRegistry.from_entry_points()
    assert {"shouting", "missing", "not-a-factory", "echo"} <= set(registry.names())
    assert "shouting" in registry.known() and not {"missing", "not-a-factory"} & set(registry.known())
    backend = registry.backend_for("shouting", registry.options_for("shouting", {"suffix": "!!"}))
    assert shout(backend, "hello") == "HELLO!!"
    registry.close()


def test_a_plugin_that_fails_to_load_is_logged_once_and_skipped(installed: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = BackendRegistry.from_entry_points()
    for _ in range(2):
        with pytest.raises(UnknownBackend, match="the backend 'missing' failed to load: ModuleNotFoundError: "
                                                 "No module named 'batchrock_test_plugin_missing'"):
            registry.factory("missing")
    with pytest.raises(UnknownBackend, match=r"the backend 'not-a-factory' failed to load: TypeError: .* is not a backend"):
        registry.factory("not-a-factory")
    failures = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(failures) == 2 and "'missing' (batchrock_test_plugin_missing:Backend)" in failures[0], failures
    assert shout(registry.backend_for("shouting", registry.options_for("shouting", {})), "still") == "STILL!"
    echo = registry.backend_for("echo", registry.options_for("echo", {}))
    assert shout(echo, "here") == "echo: here"
    registry.close()


def test_jobs_run_on_the_plugin_and_the_runtime_closes_it(runtime: Runtime) -> None:
    job = run_job(runtime, "shout.model-v1")
    assert job.status is JobStatus.COMPLETED, job.message
    lines = read_output_lines(runtime.settings.data_dir / "buckets/bucket/out" / job.job_id / "a.jsonl.out")
    assert [line["modelOutput"]["content"][0]["text"] for line in lines] == [f"HELLO {i}?!" for i in range(5)]
    backend = runtime.backends.backend_for("shouting", runtime.backends.options_for("shouting", {"suffix": "?!"}))
    assert isinstance(backend, importlib.import_module("batchrock_test_plugin").ShoutingBackend)
    assert not backend.closed  # the instance the job ran on
    runtime.close()
    assert backend.closed


def test_a_job_on_a_broken_plugin_fails_saying_why_and_others_run(runtime: Runtime) -> None:
    job = run_job(runtime, "broken.model-v1")
    assert job.status is JobStatus.FAILED
    assert "the backend 'missing' failed to load: ModuleNotFoundError" in (job.message or ""), job.message
    assert run_job(runtime, "echo.model-v1").status is JobStatus.COMPLETED
    assert run_job(runtime, "shout.model-v1").status is JobStatus.COMPLETED


def test_a_job_whose_backend_options_do_not_fit_fails_naming_the_key(runtime: Runtime) -> None:
    runtime.catalog.backends["shouting"]["sufix"] = "!"  # past the check at load, as a hand-edited catalog object would be
    job = run_job(runtime, "shout.model-v1")
    assert job.status is JobStatus.FAILED
    assert (job.message or "").startswith("unknown option 'sufix' for the shouting backend; it takes: "), job.message


def test_an_unknown_catalog_key_stops_serve_and_models_naming_it(installed: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG.replace('suffix = "?!"', 'sufix = "?!"'))
    expected = "catalog backend 'shouting': unknown option 'sufix' for the shouting backend; it takes: "
    with pytest.raises(CatalogError, match=expected):
        Runtime.build(Settings(data_dir=tmp_path / "data", catalog_path=catalog))
    with pytest.raises(SystemExit, match=re.escape(f"batchrock: {expected}")):  # one line, no traceback
        batchrock(["models", "--catalog", str(catalog)])
