"""Which objects a job reads and where each one's output goes (Bedrock's layout)."""

from __future__ import annotations

from batchrock.engine.records import is_blank, parse_line
from batchrock.storage.base import Location, ObjectInfo, ObjectMissing, ObjectStore, byte_range, read_lines

INPUT_SUFFIX = ".jsonl"
OUTPUT_SUFFIX = ".out"
MANIFEST_NAME = "manifest.json.out"
PARTS_FOLDER = ".batchrock-parts"


def input_objects(objects: ObjectStore, source: Location) -> tuple[str, list[ObjectInfo]]:
    """(the prefix relative names are taken from, the .jsonl objects in key order).

    ``source`` is one ``.jsonl`` object or a prefix; every ``.jsonl`` under a prefix is read.
    """
    if source.key.endswith(INPUT_SUFFIX):
        found = objects.head(source.bucket, source.key)
        if found is None:
            raise ObjectMissing(f"the input object {source} does not exist")
        return source.key.rsplit("/", 1)[0] + "/" if "/" in source.key else "", [found]
    prefix = source.key if not source.key or source.key.endswith("/") else source.key + "/"
    inputs = [info for info in objects.list_objects(source.bucket, prefix) if info.key.endswith(INPUT_SUFFIX)]
    return prefix, inputs


def output_key(output: Location, job_id: str, relative_name: str) -> str:
    return output.child(f"{job_id}/{relative_name}{OUTPUT_SUFFIX}").key


def manifest_key(output: Location, job_id: str) -> str:
    return output.child(f"{job_id}/{MANIFEST_NAME}").key


def parts_prefix(output: Location, job_id: str) -> str:
    """Where a running job keeps its output parts until their files are composed."""
    return output.child(f"{job_id}/{PARTS_FOLDER}/").key


def part_key(output: Location, job_id: str, file_index: int, epoch: int, number: int) -> str:
    """A part's name carries the writer's lease epoch, so no two workers ever write the same one."""
    return f"{parts_prefix(output, job_id)}{file_index:05d}/{epoch:08d}-{number:06d}"  # JobOutputs._parts_of


def shard_key(output: Location, job_id: str, file_index: int, shard_index: int, epoch: int, attempt: int) -> str:
    """A shard's output object: in its file's parts folder, named by the shard, the coordinator's
    lease epoch and the attempt, so a lost attempt that still writes never writes the one listed."""
    return f"{parts_prefix(output, job_id)}{file_index:05d}/s{shard_index:06d}-{epoch:08d}-{attempt:03d}"


class IdsBefore:
    """recordIds of a file's lines before an offset: a run that starts mid-file (a resumed file, a
    shard) judges duplicates across the whole file. Kept by a replica for the shards of one file,
    it reads on from where the last one asked, so a file's shards together read it about once."""

    def __init__(self, objects: ObjectStore, bucket: str, key: str, job_id: str, file_index: int) -> None:
        self.objects, self.bucket, self.key = objects, bucket, key
        self.job_id, self.file_index = job_id, file_index
        self.offset = self.number = 0
        self.seen: set[str] = set()

    def upto(self, offset: int) -> set[str]:
        """The recordIds before ``offset`` (a line start), as a set of the caller's own."""
        if offset < self.offset:  # a shard run again: start over
            self.offset = self.number = 0
            self.seen = set()
        if offset > self.offset:
            self._read(offset)
        return set(self.seen)

    def _read(self, offset: int) -> None:
        stream = byte_range(self.objects.open_read(self.bucket, self.key, self.offset), offset - self.offset)
        for line, _end in read_lines(stream):
            if not is_blank(line):
                self.number += 1
                record = parse_line(line, self.job_id, self.file_index, self.number)
                if record.runnable:
                    self.seen.add(record.record_id)
        self.offset = offset


def ids_before(objects: ObjectStore, bucket: str, key: str, offset: int, job_id: str, file_index: int) -> set[str]:
    """recordIds of the file's lines before ``offset`` (``IdsBefore`` asked once)."""
    return IdsBefore(objects, bucket, key, job_id, file_index).upto(offset)
