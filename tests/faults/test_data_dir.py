"""The data dir itself — job store and local buckets together — fills up or turns read-only
under a running server. Jobs fail cleanly or wait at their last checkpoint, the store stays
consistent and answering, and nothing is lost once the disk is fixed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batchrock.jobs.model import FailureKind, JobStatus
from batchrock.jobs.store import StatusChange
from batchrock.store.sql import SqlJobStore, sqlite_url
from tests.contract.test_jobs_boto3 import error_of
from tests.faults.test_disk import mount_tmpfs, mounts  # noqa: F401  (fixture)
from tests.store.test_dialects import T0, job
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, read_output_lines, records, wait_for, write_jsonl


def integrity(data_dir: Path) -> str:
    connection = sqlite3.connect(f"file:{data_dir / 'batchrock.db'}?mode=ro", uri=True)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def fill(directory: Path) -> Path:
    """Write until the filesystem has no byte left."""
    filler = directory / "filler.bin"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (64 * 1024))
                handle.flush()
        except OSError:
            pass
    return filler


def test_a_full_data_dir(start_server: Callable[..., Any], tmp_path: Path, mounts: list[Path]) -> None:  # noqa: F811
    if not mount_tmpfs(tmp_path / "data", "6m"):
        pytest.skip("mounting a tmpfs needs privileges this machine does not grant")
    mounts.append(tmp_path / "data")
    server = start_server("--storage-outage-seconds", "2", "--part-bytes", "65536", "--keep-free-bytes", str(1 << 20))
    client = bedrock(server.url)
    rows = [{"recordId": f"F{i:05d}", "modelInput": claude_input("padding " * 90 + str(i))} for i in range(2500)]
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", rows)
    # our own output fills the disk: the buckets stop short of the room kept for the job store
    big = wait_for(client, create_job(client, "s3://bucket/in/", "s3://bucket/out/"), timeout=120)
    assert big["status"] == "Failed", big
    assert "No space left on device" in big["message"] and "kept for the job store" in big["message"]
    # something else fills it to the last byte: reads go on, changes are refused with the reason
    sqlite3.connect(server.data_dir / "batchrock.db").execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    filler = fill(server.data_dir)
    code, status, message = error_of(lambda: create_job(client, "s3://bucket/in/", "s3://bucket/out2/"))
    assert (code, status) == ("InternalServerException", 500) and "database or disk is full" in message, message
    assert client.get_model_invocation_job(jobIdentifier=big["jobArn"])["status"] == "Failed"
    assert len(client.list_model_invocation_jobs()["invocationJobSummaries"]) == 1
    assert integrity(server.data_dir) == "ok"
    # room again: the next job runs
    filler.unlink()
    write_jsonl(server.data_dir / "buckets/bucket/small/a.jsonl", records(20))
    small = wait_for(client, create_job(client, "s3://bucket/small/", "s3://bucket/small-out/"), timeout=120)
    assert small["status"] == "Completed" and small["successRecordCount"] == 20, small
    assert integrity(server.data_dir) == "ok"


class Ext4Image:
    """A small ext4 filesystem on a loop device, mounted with errors=remount-ro, whose kernel
    error trigger turns it read-only the way a failing disk does."""

    def __init__(self, image: Path, mount_point: Path) -> None:
        self.image, self.mount_point = image, mount_point

    def create(self) -> bool:
        subprocess.run(["truncate", "-s", "48M", str(self.image)], check=True)
        made = subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], capture_output=True)
        return made.returncode == 0 and self.mount()

    def mount(self, *options: str) -> bool:
        self.mount_point.mkdir(parents=True, exist_ok=True)
        flags = ",".join(("loop", "errors=remount-ro", *options))
        return subprocess.run(["mount", "-o", flags, str(self.image), str(self.mount_point)], capture_output=True).returncode == 0

    def unmount(self, lazy: bool = False) -> None:
        subprocess.run(["umount", *(["-l"] if lazy else []), str(self.mount_point)], capture_output=True)

    def repair(self) -> None:
        """Unmounted: replay the journal and clear the error, as an operator's fsck does."""
        subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True)

    def fail(self) -> None:
        """ext4's own error path: the kernel remounts it read-only under the running server."""
        device = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(self.mount_point)], capture_output=True,
                                text=True, check=True).stdout.strip()
        Path(f"/sys/fs/ext4/{Path(device).name}/trigger_fs_error").write_text("batchrock test: disk failing")


@pytest.fixture
def ext4(tmp_path: Path) -> Iterator[Ext4Image]:
    image = Ext4Image(tmp_path / "data.img", tmp_path / "data")
    if not image.create():
        pytest.skip("a loop-mounted ext4 filesystem needs privileges this machine does not grant")
    yield image
    image.unmount(lazy=True)


def test_a_data_dir_that_turns_read_only(ext4: Ext4Image, start_server: Callable[..., Any]) -> None:
    args = ("--storage-outage-seconds", "2", "--part-bytes", "4096", "--batch-size", "4", "--keep-free-bytes", str(1 << 20))
    server = start_server(*args)
    client = bedrock(server.url)
    rows = records(600, prefix="W")
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", rows)
    os.sync()  # the input must outlive the disk failure, as an uploaded object does
    arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/", model="slow.model-v1")
    deadline = time.monotonic() + 60
    while client.get_model_invocation_job(jobIdentifier=arn).get("processedRecordCount", 0) < 60:
        assert time.monotonic() < deadline, "the job never made progress"
        time.sleep(0.1)
    ext4.fail()
    time.sleep(5)  # the job's writes fail, it halts at its last checkpoint
    assert_reads_work_and_changes_are_refused(client, arn)
    server.stop()
    # a restart on a data dir mounted read-only: the server comes up and answers reads
    ext4.unmount()
    ext4.repair()
    assert ext4.mount("ro")
    server.start()
    assert_reads_work_and_changes_are_refused(client, arn)
    assert "readonly database" in client.get_model_invocation_job(jobIdentifier=arn)["message"]
    server.stop()
    # the disk is fixed: the job resumes from its checkpoint and finishes, every record once
    ext4.unmount()
    assert ext4.mount()
    server.start()
    job = wait_for(client, arn, timeout=120)
    assert job["status"] == "Completed" and job["successRecordCount"] == 600, job
    lines = read_output_lines(server.data_dir / "buckets/bucket/out" / arn.rsplit("/", 1)[1] / "a.jsonl.out")
    assert [line["recordId"] for line in lines] == [row["recordId"] for row in rows]
    assert integrity(server.data_dir) == "ok"
    assert os.access(server.data_dir, os.W_OK)


def assert_reads_work_and_changes_are_refused(client: Any, arn: str) -> None:
    job = client.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "InProgress" and "cannot be written" in job["message"], job
    summaries = client.list_model_invocation_jobs()["invocationJobSummaries"]
    assert [summary["status"] for summary in summaries] == ["InProgress"]
    code, status, message = error_of(lambda: create_job(client, "s3://bucket/in/", "s3://bucket/other/"))
    assert (code, status) == ("InternalServerException", 500) and "cannot accept changes" in message, message


def test_resume_on_a_read_only_data_dir_says_why(tmp_path: Path, mounts: list[Path]) -> None:  # noqa: F811
    data = tmp_path / "data"
    if not mount_tmpfs(data, "8m"):
        pytest.skip("mounting a tmpfs needs privileges this machine does not grant")
    mounts.append(data)
    store = SqlJobStore(sqlite_url(data))
    store.add_job(job(1, JobStatus.IN_PROGRESS), [])
    store.change_status(StatusChange("job00000001", JobStatus.IN_PROGRESS, JobStatus.FAILED, T0, "Storage error: x",
                                     ended=True, failure_kind=FailureKind.STORAGE))
    store.close()
    subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
    resumed = subprocess.run([sys.executable, "-m", "batchrock.cli.main", "resume", "--all", "--data-dir", str(data)],
                             capture_output=True, text=True)
    assert resumed.returncode == 1 and "batchrock resume: the job store cannot be written" in resumed.stderr, resumed.stderr
    assert "Traceback" not in resumed.stderr
