"""Buckets as folders: ``<data-dir>/buckets/<bucket>/<key>``, for running with no S3 endpoint.

Keys are checked so that nothing outside the bucket folder can be named: no ``..`` or ``.``
segments, absolute keys, NUL bytes, backslashes, over-long keys, or paths through symlinks.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from batchrock.storage.base import ObjectInfo, ObjectMissing, StorageError
from batchrock.storage.local_assembly import Assemblies, Assembly, remove_quietly
from batchrock.storage.local_trash import Trash

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_KEY_BYTES = 1024


class UnsafeKey(StorageError):
    pass


def sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _refuse_kms(kms_key_id: str | None) -> None:
    if kms_key_id:
        raise StorageError("the local directory store cannot encrypt with a KMS key; use an S3 endpoint")


class LocalObjectStore:
    supports_kms = False

    def __init__(self, root: Path, keep_free_bytes: int = 0) -> None:
        """``keep_free_bytes``: room left on the data dir's filesystem for the job store, which
        lives there too; a write that would eat into it fails as if the disk were full."""
        self.root = root
        self.buckets = root / "buckets"
        with contextlib.suppress(OSError):  # a read-only data dir: reads still work, writes fail with the OS's reason
            self.buckets.mkdir(parents=True, exist_ok=True)
        self.keep_free_bytes = keep_free_bytes
        self._store_device = root.stat().st_dev
        self._assemblies = Assemblies(append_file)
        self._trash = Trash(root / ".trash")  # deleted files are unlinked in the background (local_trash.py)

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
        stream = self._open(bucket, key)
        stream.seek(start)
        return stream

    def _open(self, bucket: str, key: str) -> BinaryIO:
        """The object's file, open for reading; the caller closes it."""
        try:
            return open(self.path_of(bucket, key), "rb")
        except FileNotFoundError:
            raise ObjectMissing(f"s3://{bucket}/{key} does not exist") from None
        except OSError as error:
            raise StorageError(f"cannot read s3://{bucket}/{key}: {error.strerror}") from None

    def put_object(self, bucket: str, key: str, data: bytes | bytearray, kms_key_id: str | None = None) -> None:
        _refuse_kms(kms_key_id)
        self._write_atomically(self.path_of(bucket, key), [data])

    def delete_object(self, bucket: str, key: str) -> None:
        path = self.path_of(bucket, key)
        if not self._trash.discard(path):
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                raise StorageError(f"cannot delete s3://{bucket}/{key}: {error.strerror}") from None
        self._prune_empty_folders(path.parent, self._bucket_dir(bucket))

    @staticmethod
    def _prune_empty_folders(directory: Path, bucket_dir: Path) -> None:
        """S3 has no folders: one left empty by a delete goes too."""
        while directory != bucket_dir and bucket_dir in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def _check_room(self, target: Path, size: int) -> None:
        directory = target.parent
        while not directory.exists() and directory != self.root:
            directory = directory.parent
        if os.stat(directory).st_dev != self._store_device:  # a mount of its own: the job store is not there
            return
        stats = os.statvfs(directory)
        if stats.f_bavail * stats.f_frsize - size < self.keep_free_bytes:
            raise StorageError(f"cannot write {target.name}: No space left on device (writing {size} bytes would leave "
                               f"less than {self.keep_free_bytes} bytes free in the data dir, kept for the job store)")

    def _write_atomically(self, target: Path, pieces: list[bytes | bytearray] | list[Path]) -> None:
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            if self.keep_free_bytes:
                self._check_room(target, sum(p.stat().st_size if isinstance(p, Path) else len(p) for p in pieces))
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                for piece in pieces:
                    if isinstance(piece, Path):
                        handle.flush()  # what is buffered goes first: the copy writes at the file's end
                        append_file(handle.fileno(), piece)
                    else:
                        handle.write(piece)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
            sync_directory(target.parent)  # the rename itself must survive a crash: checkpoints name these files
        except FileNotFoundError as error:
            remove_quietly(temporary)
            raise ObjectMissing(f"cannot write {target.name}: {error.filename} vanished") from None
        except OSError as error:
            remove_quietly(temporary)
            raise StorageError(f"cannot write {target.name}: {error.strerror}") from None

    def compose(self, bucket: str, key: str, sources: list[str], kms_key_id: str | None = None) -> None:
        _refuse_kms(kms_key_id)
        paths = [self.path_of(bucket, source) for source in sources]
        for source, path in zip(sources, paths, strict=True):
            if not path.is_file():
                raise ObjectMissing(f"s3://{bucket}/{source} does not exist")
        target = self.path_of(bucket, key)
        assembly = self._assemblies.take(target, sources, paths)
        if assembly is not None:
            try:
                self._complete(assembly, target, paths[len(assembly.sources):])
                return
            except (OSError, StorageError):  # the parts are all there still: copy them all
                remove_quietly(assembly.path)
        self._write_atomically(target, paths)

    def precompose(self, bucket: str, key: str, sources: list[str]) -> None:
        """A hint: ``key`` will be composed from ``sources`` and perhaps more after them; their
        bytes are copied in the background (storage/local_assembly.py). It never fails: at worst
        it does nothing."""
        if not sources:
            return
        try:
            paths = [self.path_of(bucket, source) for source in sources]
            target = self.path_of(bucket, key)
            if self.keep_free_bytes:
                self._check_room(target, sum(path.stat().st_size for path in paths))
        except (OSError, StorageError):
            return
        self._assemblies.extend_later(target, sources, paths)

    def wait_for_copies(self) -> None:
        """Until the parts ``precompose`` queued so far are copied."""
        self._assemblies.wait()

    def _complete(self, assembly: Assembly, target: Path, rest: list[Path]) -> None:
        """Append the parts the scratch file lacks, sync it and move it into place."""
        if self.keep_free_bytes:
            self._check_room(target, sum(path.stat().st_size for path in rest))
        descriptor = os.open(assembly.path, os.O_WRONLY)
        try:
            for path in rest:
                append_file(descriptor, path)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(assembly.path, target)
        sync_directory(target.parent)  # the rename must survive a crash: the checkpoint then says done


def append_file(target: int, path: Path) -> None:
    """Append the file at ``path`` to the open file ``target`` (a descriptor, left at its new end):
    copied by the kernel (no trip through Python's buffers) where the filesystem allows, else read
    and written. The copy names where it writes: the kernel refuses one into a file opened to append."""
    with open(path, "rb", buffering=0) as source:
        offset = os.fstat(target).st_size
        left = os.fstat(source.fileno()).st_size
        try:
            while left > 0 and (copied := os.copy_file_range(source.fileno(), target, left, offset_dst=offset)) > 0:
                left, offset = left - copied, offset + copied
        except OSError:  # another filesystem, or none that supports it: copy the rest by hand
            pass
        while chunk := source.read(1 << 20):
            view = memoryview(chunk)
            while view:
                written = os.pwrite(target, view, offset)
                view, offset = view[written:], offset + written
    os.lseek(target, offset, os.SEEK_SET)
