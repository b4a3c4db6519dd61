"""Riding out storage outages: retry failed storage calls with bounded, jittered backoff.

The engine wraps its object store in this. A call that fails with a storage error (endpoint
unreachable, 5xx) is retried for up to ``outage_seconds``; then the error stands and the job
fails with a message naming it. Missing objects and unsafe keys are not retried: they are
answers, not outages. Reads resume at the byte they reached, so nothing is read twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

from batchrock.backoff import backoff, jittered
from batchrock.observability.instruments import STORAGE_GAVE_UP, STORAGE_RETRIES
from batchrock.storage.base import ObjectInfo, ObjectMissing, ObjectStore, StorageError
from batchrock.storage.local import UnsafeKey

log = logging.getLogger("batchrock.storage")
T = TypeVar("T")


class StorageWaitInterrupted(Exception):
    """The process is shutting down while a call waits out an outage: give up without failing the job."""


class RetryingObjectStore:
    def __init__(self, inner: ObjectStore, outage_seconds: float, first_delay: float = 0.5,
                 max_delay: float = 8.0, interrupt: threading.Event | None = None) -> None:
        self.inner = inner
        self.interrupt = interrupt or threading.Event()
        self.outage_seconds = outage_seconds
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.supports_kms = inner.supports_kms

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.outage_seconds
        delays = backoff(self.first_delay, self.max_delay)
        while True:
            try:
                return call()
            except (ObjectMissing, UnsafeKey):
                raise
            except StorageError as error:
                delay = next(delays)
                if time.monotonic() + delay > deadline:
                    STORAGE_GAVE_UP.labels(what).inc()
                    raise StorageError(f"{error} (still failing after {self.outage_seconds:.0f} s of retries)") from None
                log.warning("storage %s failed (%s); retrying in %.1f s", what, error, delay)
                STORAGE_RETRIES.labels(what).inc()
                if self.interrupt.wait(jittered(delay)):
                    raise StorageWaitInterrupted(f"storage {what}: {error}") from None

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        return iter(self._retry("list", lambda: list(self.inner.list_objects(bucket, prefix))))

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        return self._retry("head", lambda: self.inner.head(bucket, key))

    def open_read(self, bucket: str, key: str, start: int = 0) -> BinaryIO:
        return _ResumingReader(self, bucket, key, start)  # type: ignore[return-value]

    def put_object(self, bucket: str, key: str, data: bytes | bytearray, kms_key_id: str | None = None) -> None:
        self._retry("put", lambda: self.inner.put_object(bucket, key, data, kms_key_id))

    def delete_object(self, bucket: str, key: str) -> None:
        self._retry("delete", lambda: self.inner.delete_object(bucket, key))

    def compose(self, bucket: str, key: str, sources: list[str], kms_key_id: str | None = None) -> None:
        self._retry("compose", lambda: self.inner.compose(bucket, key, sources, kms_key_id))

    def precompose(self, bucket: str, key: str, sources: list[str]) -> None:
        """The inner store's hint, where it has one (a hint: not retried)."""
        precompose = getattr(self.inner, "precompose", None)
        if precompose is not None:
            precompose(bucket, key, sources)


class _ResumingReader:
    """A read stream that reopens at the byte it reached when the connection drops."""

    def __init__(self, store: RetryingObjectStore, bucket: str, key: str, start: int) -> None:
        self.store, self.bucket, self.key, self.position = store, bucket, key, start
        self.stream: Any = store._retry("open", lambda: store.inner.open_read(bucket, key, start))

    def read(self, size: int = -1) -> bytes:
        def attempt() -> bytes:
            if self.stream is None:
                self.stream = self.store.inner.open_read(self.bucket, self.key, self.position)
            try:
                return bytes(self.stream.read(size))
            except Exception as error:  # a dropped connection mid-body
                self.stream = None
                raise StorageError(f"reading s3://{self.bucket}/{self.key}: {error}") from None

        chunk = self.store._retry("read", attempt)
        self.position += len(chunk)
        return chunk

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
