"""A job's outputs as a whole: the manifest, the end-of-job check, and removing the parts.

The check runs before a job reports an ending: each composed output file must hold exactly
one line per record its checkpoint counts, and the manifest must read back as the counts.
A mismatch fails the job loudly (it is never reported Completed) and keeps its checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy
import orjson

from batchrock.engine.inputs import manifest_key, parts_prefix
from batchrock.jobs.model import Job, RecordCounts
from batchrock.jobs.store import FileProgress
from batchrock.storage.base import Location, ObjectStore, StorageError

log = logging.getLogger("batchrock.engine")


def manifest_of(counts: RecordCounts) -> dict[str, int]:
    """``manifest.json.out``: every count, by its Bedrock member name."""
    return counts.by_member()


class JobOutputs:
    def __init__(self, job: Job, objects: ObjectStore) -> None:
        self.job = job
        self.objects = objects
        self.output = Location.parse(job.spec.output_config.s3_uri)
        self.manifest_key = manifest_key(self.output, job.job_id)
        self._parts_prefix = parts_prefix(self.output, job.job_id)

    def write_manifest(self, counts: RecordCounts) -> None:
        try:
            self.objects.put_object(self.output.bucket, self.manifest_key, orjson.dumps(manifest_of(counts)),
                                    self.job.spec.output_config.s3_encryption_key_id)
        except StorageError as error:
            log.error("job %s: cannot write its manifest: %s", self.job.job_id, error)

    def mismatched_files(self, files: list[FileProgress]) -> list[tuple[FileProgress, str]]:
        """The composed files whose line count differs from their checkpointed record count, and why."""
        found = []
        for progress in files:
            if not progress.done:
                continue
            lines = self._count_lines(progress.output_key)
            if lines != progress.records_done:
                held = "cannot be read" if lines is None else f"holds {lines} lines"
                found.append((progress, f"{self._uri(progress.output_key)} {held} where the checkpoint counts "
                                        f"{progress.records_done} records"))
        return found

    def manifest_problem(self, counts: RecordCounts) -> str | None:
        try:
            stream = self.objects.open_read(self.output.bucket, self.manifest_key)
            written = orjson.loads(stream.read())
            stream.close()
        except (StorageError, orjson.JSONDecodeError) as error:
            return f"{self._uri(self.manifest_key)} cannot be read back ({error})"
        if written != manifest_of(counts):
            return f"{self._uri(self.manifest_key)} says {written} where the checkpoint counts {manifest_of(counts)}"
        return None

    def remove_parts(self, files: list[FileProgress]) -> None:
        """Delete the parts of the files composed and checked: those their checkpoints list and any
        a stale worker left in their folders. Nobody needs them again; other files' are kept."""
        done = [progress for progress in files if progress.done]
        keys = {key for progress in done for key in progress.parts}
        try:
            for progress in done:
                keys.update(info.key for info in self.objects.list_objects(self.output.bucket,
                                                                           self._parts_of(progress.file_index)))
            self._delete(keys)
        except StorageError as error:
            log.warning("job %s: could not remove its output parts: %s", self.job.job_id, error)

    def sweep_parts(self) -> None:
        """Once the job has ended: delete every part object left under its parts folder."""
        try:
            self._delete(info.key for info in self.objects.list_objects(self.output.bucket, self._parts_prefix))
        except StorageError as error:
            log.warning("job %s: could not remove its output parts: %s", self.job.job_id, error)

    def _delete(self, keys: Iterable[str]) -> None:
        for key in sorted(keys):
            self.objects.delete_object(self.output.bucket, key)

    def _parts_of(self, file_index: int) -> str:
        return f"{self._parts_prefix}{file_index:05d}/"

    def _count_lines(self, key: str) -> int | None:
        try:
            stream = self.objects.open_read(self.output.bucket, key)
        except StorageError:
            return None
        lines = 0
        try:
            while chunk := stream.read(1 << 20):
                lines += int(numpy.count_nonzero(numpy.frombuffer(chunk, numpy.uint8) == ord("\n")))  # 3x bytes.count
        except StorageError:
            return None
        finally:
            stream.close()
        return lines

    def _uri(self, key: str) -> str:
        return f"s3://{self.output.bucket}/{key}"
