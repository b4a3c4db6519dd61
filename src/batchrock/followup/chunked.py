"""One object of any size written from a stream, holding at most a part's worth in memory.

``ObjectStore`` writes whole objects. Up to one part, the object is written at once; beyond,
each full part becomes an object of its own beside the target and the target is composed from
them in order (``ObjectStore.compose``: server-side on S3), after which the parts are deleted.
"""

from __future__ import annotations

from contextlib import suppress

from batchrock.storage.base import Location, ObjectStore, StorageError

PART_BYTES = 8 * 1024 * 1024
PARTS_SUFFIX = ".batchrock-parts"


class ChunkedWriter:
    def __init__(self, objects: ObjectStore, target: Location, part_bytes: int = PART_BYTES) -> None:
        self.objects = objects
        self.target = target
        self.part_bytes = part_bytes
        self.buffer = bytearray()
        self.parts: list[str] = []

    def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= self.part_bytes:
            self._write_part()

    def finish(self) -> None:
        """Write the target; nothing is left beside it."""
        if not self.parts:
            self.objects.put_object(self.target.bucket, self.target.key, bytes(self.buffer))
            return
        if self.buffer:
            self._write_part()
        try:
            self.objects.compose(self.target.bucket, self.target.key, self.parts)
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Delete the parts written so far (a failed write leaves the target as it was)."""
        for key in self.parts:
            with suppress(StorageError):  # a part left behind is litter, not harm: it has no .jsonl name
                self.objects.delete_object(self.target.bucket, key)
        self.parts.clear()

    def _write_part(self) -> None:
        key = f"{self.target.key}{PARTS_SUFFIX}/{len(self.parts) + 1:06d}"
        self.objects.put_object(self.target.bucket, key, bytes(self.buffer))
        self.parts.append(key)
        self.buffer.clear()
