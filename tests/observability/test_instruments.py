"""The process instruments count where things happen: a storage outage waited out, a store write refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from batchrock.jobs.model import Job, JobSpec, JobStatus, Owner, S3InputConfig, S3OutputConfig
from batchrock.jobs.store import StoreUnwritable
from batchrock.storage.base import StorageError
from batchrock.storage.local import LocalObjectStore
from batchrock.storage.retrying import RetryingObjectStore
from batchrock.store.dbfaults import read_only_sqlite_url
from batchrock.store.sql import SQLITE_FILE, SqlJobStore, sqlite_url


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class FlakyStore(LocalObjectStore):
    """Local buckets whose puts fail ``failures`` times before they work, as an unreachable endpoint does."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    def put_object(self, bucket: str, key: str, data: bytes, kms_key_id: str | None = None) -> None:
        if self.failures:
            self.failures -= 1
            raise StorageError("endpoint unreachable")
        super().put_object(bucket, key, data, kms_key_id)


def test_storage_retries_and_give_ups_are_counted(tmp_path: Path) -> None:
    retries, gave_up = sample("batchrock_storage_retries_total", operation="put"), \
        sample("batchrock_storage_gave_up_total", operation="put")
    RetryingObjectStore(FlakyStore(tmp_path, 2), outage_seconds=30, first_delay=0.001).put_object("bucket", "k", b"x")
    assert sample("batchrock_storage_retries_total", operation="put") == retries + 2
    with pytest.raises(StorageError, match="still failing"):
        RetryingObjectStore(FlakyStore(tmp_path, 99), outage_seconds=0.05, first_delay=0.01).put_object("bucket", "k", b"x")
    assert sample("batchrock_storage_gave_up_total", operation="put") == gave_up + 1


def test_a_refused_store_write_is_counted(tmp_path: Path) -> None:
    SqlJobStore(sqlite_url(tmp_path)).close()  # a migrated store, then opened read-only
    store = SqlJobStore(read_only_sqlite_url(tmp_path / SQLITE_FILE), read_only=True)
    now = datetime.now(UTC)
    spec = JobSpec("j", "arn:aws:iam::123456789012:role/r", "m", S3InputConfig("s3://in/"), S3OutputConfig("s3://o/"), 24)
    before = sample("batchrock_store_write_failures_total")
    with pytest.raises(StoreUnwritable):
        store.add_job(Job("job000000001", Owner("123456789012", "us-east-1"), spec, JobStatus.SUBMITTED, now, now,
                          now + timedelta(hours=24), "f"), [])
    store.close()
    assert sample("batchrock_store_write_failures_total") == before + 1
