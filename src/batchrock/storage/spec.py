"""Object storage as a description another process can open: what a Ray replica gets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batchrock.storage.base import ObjectStore
from batchrock.storage.local import LocalObjectStore
from batchrock.storage.retrying import RetryingObjectStore
from batchrock.storage.s3 import S3ObjectStore


@dataclass(frozen=True)
class StorageSpec:
    """The server's S3 endpoint, or its local buckets (under ``data_dir``, a path every node must
    see: one machine, or a shared filesystem)."""

    data_dir: Path
    s3_endpoint_url: str | None
    outage_seconds: float

    def open(self) -> ObjectStore:
        inner: ObjectStore = (S3ObjectStore(self.s3_endpoint_url) if self.s3_endpoint_url
                              else LocalObjectStore(self.data_dir))
        return RetryingObjectStore(inner, self.outage_seconds)
