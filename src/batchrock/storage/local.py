"""Buckets as folders: ``<data-dir>/buckets/<bucket>/<key>``, for running with no S3 endpoint.

Keys are checked so that nothing outside the bucket folder can be named: no ``..`` or ``.``
segments, absolute keys, NUL bytes, backslashes, over-long keys, or paths through symlinks.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO, Iterator

from batchrock.storage.base import ObjectInfo, ObjectMissing, StorageError

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_KEY_BYTES = 1024


class UnsafeKey(StorageError):
    pass


def _refuse_kms(kms_key_id: str | None) -> None:
    if kms_key_id:
        raise StorageError("the local directory store cannot encrypt with a KMS key; use an S3 endpoint")


class LocalObjectStore:
    min_part_size = 1
    supports_kms = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.buckets = root / "buckets"
        self.uploads = root / "uploads"
        self.buckets.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)

    def _bucket_dir(self, bucket: str) -> Path:
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise UnsafeKey(f"invalid bucket name {bucket!r}")
        return self.buckets / bucket

    def path_of(self, bucket: str, key: str) -> Path:
        if (not key or len(key.encode()) > MAX_KEY_BYTES or "\x00" in key or "\\" in key
                or key.startswith("/") or any(part in ("..", ".") for part in key.split("/"))):
            raise UnsafeKey(f"unsafe object key {key!r}")
        bucket_dir = self._bucket_dir(bucket)
        path = bucket_dir / key
        probe = bucket_dir
        for part in Path(key).parts:
            probe = probe / part
            if probe.is_symlink():
                raise UnsafeKey(f"object key {key!r} passes through a symbolic link")
        return path

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        bucket_dir = self._bucket_dir(bucket)
        if not bucket_dir.is_dir():
            return
        found = []
        for directory, _dirs, files in os.walk(bucket_dir, followlinks=False):
            for name in files:
                path = Path(directory) / name
                key = path.relative_to(bucket_dir).as_posix()
                if key.startswith(prefix) and not path.is_symlink():
                    found.append(ObjectInfo(key, path.stat().st_size))
        yield from sorted(found, key=lambda info: info.key)

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        path = self.path_of(bucket, key)
        return ObjectInfo(key, path.stat().st_size) if path.is_file() else None

    def open_read(self, bucket: str, key: str, start: int = 0) -> BinaryIO:
        path = self.path_of(bucket, key)
        try:
            stream = open(path, "rb")
        except FileNotFoundError:
            raise ObjectMissing(f"s3://{bucket}/{key} does not exist") from None
        except OSError as error:
            raise StorageError(f"cannot read s3://{bucket}/{key}: {error.strerror}") from None
        stream.seek(start)
        return stream

    def put_object(self, bucket: str, key: str, data: bytes, kms_key_id: str | None = None) -> None:
        _refuse_kms(kms_key_id)
        self._write_atomically(self.path_of(bucket, key), [data])

    def delete_object(self, bucket: str, key: str) -> None:
        try:
            self.path_of(bucket, key).unlink(missing_ok=True)
        except OSError as error:
            raise StorageError(f"cannot delete s3://{bucket}/{key}: {error.strerror}") from None

    def _write_atomically(self, target: Path, pieces: list[bytes] | list[Path]) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            with open(temporary, "wb") as handle:
                for piece in pieces:
                    if isinstance(piece, Path):
                        with open(piece, "rb") as source:
                            shutil.copyfileobj(source, handle, 1 << 20)
                    else:
                        handle.write(piece)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except OSError as error:
            raise StorageError(f"cannot write {target.name}: {error.strerror}") from None

    def start_upload(self, bucket: str, key: str, kms_key_id: str | None = None) -> str:
        _refuse_kms(kms_key_id)
        self.path_of(bucket, key)
        upload_id = uuid.uuid4().hex
        (self.uploads / upload_id).mkdir()
        return upload_id

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        self._write_atomically(self._upload_dir(upload_id) / f"{number:06d}", [data])
        return f"part-{number}"

    def complete_upload(self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        directory = self._upload_dir(upload_id)
        self._write_atomically(self.path_of(bucket, key), [directory / f"{number:06d}" for number, _ in parts])
        shutil.rmtree(directory, ignore_errors=True)

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        shutil.rmtree(self._upload_dir(upload_id), ignore_errors=True)

    def _upload_dir(self, upload_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            raise UnsafeKey("invalid upload id")
        return self.uploads / upload_id
