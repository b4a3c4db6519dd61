"""A real ``batchrock serve`` process on a loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def end_process(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
    """Send ``sig``; kill the process if it has not exited after ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def last_lines(path: Path, count: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-count:])


def check_exited(process: subprocess.Popen[bytes] | None, what: str, log_path: Path) -> None:
    """Raise with the last log lines if ``process`` has exited (tests fail fast, not at their timeout)."""
    if process is not None and process.poll() is not None:
        raise AssertionError(f"{what} exited with status {process.returncode}; its last log lines:\n"
                             f"{last_lines(log_path)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, data_dir: Path, port: int | None = None, extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra_args = extra_args
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        command = [sys.executable, "-m", "batchrock.cli.main", "serve", "--port", str(self.port),
                   "--data-dir", str(self.data_dir), *self.extra_args]
        with open(self.log_path, "ab") as log:  # the server writes to its own copy of the descriptor
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-4000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start in time")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        end_process(self.process, sig)
        self.process = None

    def check_alive(self) -> None:
        """Raise with the server's last log lines if it died (a stopped server is not checked)."""
        check_exited(self.process, "batchrock serve", self.log_path)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
