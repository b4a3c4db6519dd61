"""A full disk and a read-only filesystem under the output bucket (small tmpfs mounts): the job
fails cleanly with a message, and the store stays consistent and answering."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, wait_for, write_jsonl


def mount_tmpfs(path: Path, size: str, read_only: bool = False) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode == 0


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    mounted: list[Path] = []
    yield mounted
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_full_disk_and_read_only_output(start_server: Callable[..., Any], mounts: list[Path]) -> None:
    server = start_server("--storage-outage-seconds", "2", "--part-bytes", "65536")
    for name, size, read_only in (("full", "128k", False), ("readonly", "64k", True)):
        if not mount_tmpfs(server.data_dir / "buckets" / name, size, read_only):
            pytest.skip("mounting a tmpfs needs privileges this machine does not grant")
        mounts.append(server.data_dir / "buckets" / name)
    client = bedrock(server.url)
    rows = [{"recordId": f"D{i:05d}", "modelInput": claude_input("padding " * 60 + str(i))} for i in range(3000)]
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", rows)
    full = wait_for(client, create_job(client, "s3://bucket/in/", "s3://full/out/"), timeout=120)
    assert full["status"] == "Failed" and "No space left on device" in full["message"], full.get("message")
    readonly = wait_for(client, create_job(client, "s3://bucket/in/", "s3://readonly/out/"), timeout=120)
    assert readonly["status"] == "Failed" and "Read-only file system" in readonly["message"], readonly.get("message")
    listed = client.list_model_invocation_jobs()["invocationJobSummaries"]
    assert {job["status"] for job in listed} == {"Failed"} and len(listed) == 2
    fine = wait_for(client, create_job(client, "s3://bucket/in/", "s3://bucket/out/"), timeout=120)
    assert fine["status"] == "Completed"
