"""``batchrock run`` in a pseudo-terminal (a live bar) and piped (plain lines), and ``--detach``."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.clients import aws_env
from tests.support.jobs import records, write_jsonl

MODEL = "slow.model-v1"  # echo backend, 20 ms per record


def run_args(server: Any, source: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "batchrock.cli.main", "run", str(source), "--model", MODEL,
            "--endpoint-url", server.url, "--data-dir", str(server.data_dir), *extra]


def test_run_in_a_terminal_draws_progress_and_a_summary(start_server: Callable[..., Any], tmp_path: Path) -> None:
    server = start_server("--batch-size", "2")
    source = write_jsonl(tmp_path / "prompts.jsonl", records(120))
    primary, secondary = pty.openpty()
    process = subprocess.Popen(run_args(server, source, "--output", str(tmp_path / "results")), stdin=secondary,
                               stdout=secondary, stderr=secondary, env={**aws_env(), "COLUMNS": "120"}, close_fds=True)
    os.close(secondary)
    screen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    text = screen.decode(errors="replace")
    assert process.returncode == 0, text
    assert "\x1b[" in text and "━" in text  # a redrawn rich bar
    assert "120/120" in text and "rec/s" in text and "ETA" in text
    assert "Status: Completed" in text and "120/120 processed" in text
    assert (tmp_path / "results" / "prompts.jsonl.out").exists() and (tmp_path / "results" / "manifest.json.out").exists()


def test_run_piped_prints_plain_lines(start_server: Callable[..., Any], tmp_path: Path) -> None:
    server = start_server("--batch-size", "2")
    source = write_jsonl(tmp_path / "prompts.jsonl", records(250))
    done = subprocess.run(run_args(server, source), capture_output=True, text=True, env=aws_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout and "━" not in done.stdout
    lines = done.stdout.splitlines()
    assert any(line.startswith("InProgress: ") and "rec/s" in line for line in lines)
    assert "Status: Completed" in lines and any(line.startswith("Outputs: ") for line in lines)


def test_run_detach_prints_the_arn(start_server: Callable[..., Any], tmp_path: Path) -> None:
    server = start_server()
    source = write_jsonl(tmp_path / "prompts.jsonl", records(3))
    done = subprocess.run(run_args(server, source, "--detach"), capture_output=True, text=True, env=aws_env(), timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/")
    watch_command = [sys.executable, "-m", "batchrock.cli.main", "watch", done.stdout.strip(), "--endpoint-url", server.url]
    watched = subprocess.run(watch_command, capture_output=True, text=True, env=aws_env(), timeout=60)
    assert watched.returncode == 0 and "Status: Completed" in watched.stdout
