"""``batchrock retry-failed``: a new job over the records a job failed, and only those.

Which records: those whose output line is an error record, in the job's order, but for the
ones that would fail the same way again, which are left out and counted (``RerunCheck``): a
line that is not a record (not JSON, not an object, no modelInput, a bad recordId), one over the
record size limit, or a modelInput the job's format refuses (the model's request schema; the
format the job's model maps to in the catalog given, Converse for a Converse job; for a model
the catalog does not know, only the line is judged). Any other failure (the backend's error, a
duplicate recordId) may not recur. Records that did not run (``notRun``) are not failures and
are left out too.

What the new input holds: one ``{"recordId", "modelInput"}`` line per failed record, with the
recordId it had (a record given none keeps the one the job generated for it), and its
modelInput as the input file holds it.

Where it goes: ``--input-uri`` when given (a ``.jsonl`` key names the object; any other URI is
a prefix, and the object is ``failed.jsonl`` under it; either way the object must not exist
yet). Otherwise ``retry/<jobId>/failed.jsonl`` in the folder that holds the job's input folder:
input ``s3://b/in/`` or ``s3://b/in/x.jsonl`` -> ``s3://b/retry/<jobId>/failed.jsonl``;
``s3://b/data/in/`` -> ``s3://b/data/retry/<jobId>/failed.jsonl``; an input that is itself a
retry file (``.../retry/<id>/failed.jsonl``) -> ``.../retry/<jobId>/failed.jsonl``, beside it.
That default object is rewritten when it exists: its content follows from the job alone.

The new job reads that one object (never a prefix), and keeps the job's model, role, output
location, timeout, invocation type, VPC configuration and tags; it is named
``<job name>-retry-<6 hex digits>`` unless a name is given.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from batchrock.catalog import Catalog
from batchrock.engine.config import EngineConfig
from batchrock.engine.inputs import INPUT_SUFFIX
from batchrock.engine.records import InputRecord
from batchrock.followup.chunked import ChunkedWriter
from batchrock.followup.errors import FollowupError, JobNotReady, NothingToRetry
from batchrock.followup.jobinfo import JobInfo
from batchrock.followup.joined import JoinedRecord, RecordStatus, joined_records
from batchrock.formats.base import Format, FormatError, request_from_json
from batchrock.formats.converse import CONVERSE
from batchrock.formats.registry import format_named
from batchrock.jobs.model import InvocationType
from batchrock.storage.base import Location, ObjectStore

RETRY_FOLDER = "retry"
RETRY_FILE = "failed.jsonl"
_SUFFIX = "-retry-"
_NAME_ROOM = 63 - len(_SUFFIX) - 6  # jobName holds at most 63 characters
_COPIED = ("timeoutDurationInHours", "modelInvocationType", "vpcConfig")


@dataclass(frozen=True)
class RetryInput:
    location: Location
    records: int
    left_out: int  # failed records that would fail the same way again
    first_reason: str | None = None  # why the first of them would


@dataclass(frozen=True)
class Retry:
    arn: str
    name: str
    input: RetryInput


class RerunCheck:
    """Whether a failed record could succeed if run again, by the engine's own record rules."""

    def __init__(self, fmt: Format | None, max_record_bytes: int = EngineConfig.max_record_bytes) -> None:
        self.fmt = fmt
        self.max_record_bytes = max_record_bytes

    @classmethod
    def for_job(cls, job: JobInfo, catalog: Catalog) -> RerunCheck:
        if job.described.get("modelInvocationType") == InvocationType.CONVERSE.value:
            return cls(CONVERSE)
        entry = catalog.resolve(job.model_id)
        return cls(format_named(entry.format) if entry else None)

    def refusal(self, source: InputRecord, line_bytes: int) -> str | None:
        """Why the record would fail again; None when it may succeed."""
        if not source.runnable:
            return source.problem
        if line_bytes > self.max_record_bytes:
            return f"the record is {line_bytes} bytes; the limit per record is {self.max_record_bytes}"
        if self.fmt is None:
            return None
        try:
            request_from_json(self.fmt, source.input_json)
        except FormatError as error:
            return f"modelInput: {error}"
        return None


def default_location(input_uri: str, job_id: str) -> Location:
    source = Location.parse(input_uri)
    folders = [part for part in source.key.split("/") if part]
    if source.key.endswith(INPUT_SUFFIX):
        folders = folders[:-1]
    base = folders[:-2] if _is_retry_file(source.key) else folders[:-1]
    return Location(source.bucket, "/".join([*base, RETRY_FOLDER, job_id, RETRY_FILE]))


def _is_retry_file(key: str) -> bool:
    """``.../retry/<jobId>/failed.jsonl``: a file this command wrote."""
    parts = key.split("/")
    return len(parts) >= 3 and parts[-3] == RETRY_FOLDER and parts[-1] == RETRY_FILE


def chosen_location(uri: str) -> Location:
    target = Location.parse(uri)
    return target if target.key.endswith(INPUT_SUFFIX) else target.child(RETRY_FILE)


def retry_line(source: InputRecord) -> bytes:
    return b"".join((b'{"recordId":', orjson.dumps(source.record_id), b',"modelInput":', source.input_json, b"}\n"))


def write_failed_records(objects: ObjectStore, records: Iterable[JoinedRecord], target: Location,
                         check: RerunCheck) -> RetryInput:
    writer = ChunkedWriter(objects, target)
    written = left_out = 0
    first_reason = None
    try:
        for record in (record for record in records if record.status is RecordStatus.FAILED):
            line = retry_line(record.source)
            reason = check.refusal(record.source, len(line))
            if reason is None:
                writer.write(line)
                written += 1
            else:
                left_out += 1
                first_reason = first_reason or f"{record.record_id}: {reason}"
        if written:
            writer.finish()
    finally:
        writer.abandon()
    return RetryInput(target, written, left_out, first_reason)


def retry_failed(client: Any, objects: ObjectStore, job: JobInfo, check: RerunCheck, input_uri: str | None = None,
                 job_name: str | None = None) -> Retry:
    """Write the job's failed records and create the job over them; ``client``: a botocore Bedrock client."""
    if not job.ended:
        raise JobNotReady(f"job {job.job_id} is {job.status.value}: retry its failed records once it has ended")
    target = _target(objects, job, input_uri)
    written = write_failed_records(objects, joined_records(objects, job), target, check)
    if not written.records:
        raise NothingToRetry(_nothing_to_retry(job, written))
    tags = client.list_tags_for_resource(resourceARN=job.arn).get("tags", [])
    name = job_name or retry_name(job.name)
    arn = client.create_model_invocation_job(**retry_request(job, tags, written.location, name))["jobArn"]
    return Retry(arn, name, written)


def retry_name(name: str) -> str:
    return f"{name[:_NAME_ROOM]}{_SUFFIX}{secrets.token_hex(3)}"


def retry_request(job: JobInfo, tags: list[dict[str, str]], location: Location, name: str) -> dict[str, Any]:
    described = job.described
    request = {"jobName": name, "roleArn": described["roleArn"], "modelId": described["modelId"],
               "inputDataConfig": {"s3InputDataConfig": _input_config(job, location)},
               "outputDataConfig": described["outputDataConfig"]}
    request.update({member: described[member] for member in _COPIED if member in described})
    return {**request, "tags": tags} if tags else request


def _input_config(job: JobInfo, location: Location) -> dict[str, str]:
    original = job.described["inputDataConfig"]["s3InputDataConfig"]
    config = {"s3Uri": str(location)}
    if "s3InputFormat" in original:
        config["s3InputFormat"] = original["s3InputFormat"]
    if "s3BucketOwner" in original and Location.parse(original["s3Uri"]).bucket == location.bucket:
        config["s3BucketOwner"] = original["s3BucketOwner"]
    return config


def _target(objects: ObjectStore, job: JobInfo, input_uri: str | None) -> Location:
    if input_uri is None:
        return default_location(job.input_uri, job.job_id)
    target = chosen_location(input_uri)
    if objects.head(target.bucket, target.key) is not None:
        raise FollowupError(f"{target} already exists: name a new object, or a prefix without {RETRY_FILE}")
    return target


def _nothing_to_retry(job: JobInfo, written: RetryInput) -> str:
    if written.left_out:
        records = "1 failed record" if written.left_out == 1 else f"{written.left_out} failed records"
        return f"job {job.job_id} has {records}, and each would fail the same way again (the first: {written.first_reason})"
    return f"job {job.job_id} has no failed records"
