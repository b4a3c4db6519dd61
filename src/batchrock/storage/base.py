"""Object storage: the one small interface the engine reads input from and writes output to.

A job writes its output as part objects of its own, each under a name no other worker can
choose (it carries the writer's lease epoch), checkpoints after each, and at the end composes
the output object from the parts its checkpoint lists, in order.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import BinaryIO, Protocol, cast

_S3_URI = re.compile(r"s3://(?P<bucket>[^/]+)(?:/(?P<key>.*))?")


class StorageError(Exception):
    """Storage failed (unreachable, denied, missing); the message names the object."""


class ObjectMissing(StorageError):
    pass


@dataclass(frozen=True)
class Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> Location:
        found = _S3_URI.fullmatch(uri)
        if found is None:
            raise ValueError(f"{uri} is not an s3://bucket/key URI")
        return cls(found["bucket"], found["key"] or "")

    def child(self, name: str) -> Location:
        prefix = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return Location(self.bucket, prefix + name)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


class ObjectStore(Protocol):
    #: whether writes can be encrypted with a KMS key (SSE-KMS)
    supports_kms: bool

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]: ...

    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    def open_read(self, bucket: str, key: str, start: int = 0) -> BinaryIO: ...

    def put_object(self, bucket: str, key: str, data: bytes | bytearray, kms_key_id: str | None = None) -> None: ...

    def delete_object(self, bucket: str, key: str) -> None: ...

    def compose(self, bucket: str, key: str, sources: list[str], kms_key_id: str | None = None) -> None:
        """Write ``key`` as the concatenation of the objects ``sources`` (same bucket), in order.
        Raises ObjectMissing, writing nothing, when a source is missing."""
        ...

    # Optional: ``def precompose(self, bucket, key, sources) -> None``, a hint that ``key`` will be
    # composed from ``sources`` and perhaps more after them, so a store can copy them ahead (the
    # local store does); it never fails, and ``compose`` stays the truth.


class ByteRange:
    """A readable stream cut off after ``length`` bytes (a shard's range of an input file)."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._stream.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._stream.close()


def byte_range(stream: BinaryIO, length: int) -> BinaryIO:
    """``stream``, read no further than ``length`` bytes."""
    return cast(BinaryIO, ByteRange(stream, length))


def read_line_blocks(stream: BinaryIO, chunk_size: int = 1 << 20) -> Iterator[tuple[list[bytes], bool]]:
    """The stream's lines (without their newlines), a chunk's worth at a time; the flag is False
    only for a last line that has no newline."""
    with closing(read_line_chunks(stream, chunk_size)) as chunks:  # closing it closes the stream
        for chunk, terminated in chunks:
            lines = bytes(chunk).split(b"\n")
            if terminated:
                lines.pop()  # what follows the chunk's last newline: nothing
            yield lines, terminated


def read_line_chunks(stream: BinaryIO, chunk_size: int = 1 << 20) -> Generator[tuple[bytes | memoryview, bool], None, None]:
    """The stream in chunks of whole lines, about ``chunk_size`` bytes each, every one ending with a
    newline; the flag is False only for a last chunk that holds a last line without one. A chunk
    is a view of what was read where it can be: the line one read cut and the next completes comes
    as a small chunk of its own, so no read is copied whole to join it (each copy of a megabyte is
    fresh memory the process must fault in)."""
    pending: list[bytes] = []  # the start of a line the reads so far have cut
    try:
        while chunk := stream.read(chunk_size):
            cut = chunk.rfind(b"\n") + 1
            if not cut:
                pending.append(chunk)
                continue
            start = 0
            if pending:
                start = chunk.find(b"\n") + 1
                yield b"".join((*pending, memoryview(chunk)[:start])), True
            if start < cut:
                yield memoryview(chunk)[start:cut], True
            pending = [chunk[cut:]] if cut < len(chunk) else []
        if pending:
            yield b"".join(pending), False
    finally:
        stream.close()


def read_lines(stream: BinaryIO, start: int = 0, chunk_size: int = 1 << 20) -> Generator[tuple[bytes, int], None, None]:
    """Each line (without its newline) and the byte offset just after it, streamed in chunks."""
    offset = start
    for lines, terminated in read_line_blocks(stream, chunk_size):
        for line in lines:
            offset += len(line) + terminated
            yield line, offset
