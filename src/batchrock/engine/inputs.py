"""Which objects a job reads and where each one's output goes (Bedrock's layout)."""

from __future__ import annotations

from batchrock.storage.base import Location, ObjectInfo, ObjectMissing, ObjectStore

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
