"""The Validating phase: everything checked before any model time is spent.

It streams every input file once: the files exist, limits hold, the model is known and the
output location is writable; records are counted, and examined in full (JSON, recordId,
modelInput against the model's request schema) until the first one that can run. The runner
examines every record again as it runs it, with the same rules (a block of lines at a time:
``examine_block``), and turns bad ones into error records; so a full examination here would
only double the work and hold every recordId in memory. A job whose input is unusable, or in
which no record can run, fails here with a message naming file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import cast

from batchrock.backends.base import GenerationRequest
from batchrock.engine.blocks import RecordBlock, record_key
from batchrock.engine.config import EngineConfig
from batchrock.engine.inputs import input_objects, output_key
from batchrock.engine.lines import LineBlock
from batchrock.engine.records import InputRecord, generated_record_id, is_blank, parse_line
from batchrock.engine.shards import ShardCutter
from batchrock.formats.base import Format, FormatError, request_from_json, requests_from_json
from batchrock.formats.sampling import Sampling
from batchrock.jobs.model import Job
from batchrock.jobs.shards import ShardProgress
from batchrock.jobs.store import FileProgress
from batchrock.storage.base import Location, ObjectInfo, ObjectStore, StorageError, read_line_chunks

_RECORD_ID, _MODEL_INPUT = attrgetter("recordId"), attrgetter("modelInput")


class JobInvalid(Exception):
    """The job cannot run; the message is the job's ``message``."""


@dataclass(frozen=True)
class ValidationReport:
    files: list[FileProgress]
    total_records: int
    shards: list[ShardProgress]


def validate_job(job: Job, objects: ObjectStore, fmt: Format, config: EngineConfig) -> ValidationReport:
    source = Location.parse(job.spec.input_config.s3_uri)
    output = Location.parse(job.spec.output_config.s3_uri)
    try:
        prefix, inputs = input_objects(objects, source)
    except StorageError as error:
        raise JobInvalid(f"Cannot read the input {source}: {error}") from None
    if not inputs:
        raise JobInvalid(f"No .jsonl files were found under {source}.")
    _check_sizes(inputs, source, config)
    _check_output_writable(objects, output, job.job_id, job.spec.output_config.s3_encryption_key_id)
    files, shards, total, runnable, first_problem = [], [], 0, False, None
    for index, info in enumerate(inputs):
        cutter = ShardCutter(index, config.shard_records)
        records, found, problem = _scan_file(job, objects, source.bucket, info.key, cutter, fmt, config,
                                             looking=not runnable)
        shards += cutter.finish()
        total, runnable = total + records, runnable or found
        first_problem = first_problem or problem
        if records > config.max_records_per_file:
            raise JobInvalid(f"s3://{source.bucket}/{info.key} has {records} records; "
                             f"the limit per file is {config.max_records_per_file}.")
        files.append(FileProgress(index, info.key, output_key(output, job.job_id, info.key[len(prefix):]), records))
    if total > config.max_records_per_job:
        raise JobInvalid(f"The job has {total} records; the limit per job is {config.max_records_per_job}.")
    if total < config.min_records:
        raise JobInvalid(f"The job has {total} records; at least {config.min_records} are required.")
    if not runnable:
        detail = f" First problem: {first_problem}" if first_problem else ""
        raise JobInvalid(f"No valid record was found in {total} records.{detail}")
    return ValidationReport(files, total, shards)


def _check_sizes(inputs: list[ObjectInfo], source: Location, config: EngineConfig) -> None:
    for info in inputs:
        if info.size > config.max_file_bytes:
            raise JobInvalid(f"s3://{source.bucket}/{info.key} is {info.size} bytes; "
                             f"the limit per file is {config.max_file_bytes}.")
    if sum(info.size for info in inputs) > config.max_job_bytes:
        raise JobInvalid(f"The input files add up to more than {config.max_job_bytes} bytes.")


def _check_output_writable(objects: ObjectStore, output: Location, job_id: str, kms_key_id: str | None) -> None:
    probe = output.child(f"{job_id}/.write-check")
    try:
        objects.put_object(probe.bucket, probe.key, b"", kms_key_id)
        objects.delete_object(probe.bucket, probe.key)
    except (StorageError, ValueError) as error:
        raise JobInvalid(f"Cannot write to the output location {output}: {error}") from None


def _scan_file(job: Job, objects: ObjectStore, bucket: str, key: str, cutter: ShardCutter, fmt: Format,
               config: EngineConfig, looking: bool) -> tuple[int, bool, str | None]:
    """Count the file's records and cut its shards; while ``looking`` for the job's first runnable
    record, examine each."""
    records, found, first_problem = 0, False, None
    seen: set[str] = set()
    try:
        for chunk, terminated in read_line_chunks(objects.open_read(bucket, key)):
            number = records
            records += cutter.add(chunk, terminated)
            if not looking or found:
                continue
            for line in bytes(chunk).split(b"\n"):
                if found:
                    break
                if is_blank(line):
                    continue
                number += 1
                problem = record_problem(job, line, cutter.file_index, number, fmt, seen, config)
                if problem is None:
                    found = True
                elif first_problem is None:
                    first_problem = f"s3://{bucket}/{key}: {problem}"
    except StorageError as error:
        raise JobInvalid(f"Cannot read s3://{bucket}/{key}: {error}") from None
    return records, found, first_problem


def examine_record(job_id: str, file_index: int, line: bytes, number: int, fmt: Format, seen: set[str],
                   max_record_bytes: int) -> tuple[InputRecord, GenerationRequest | None, str | None]:
    """The record on a line, its backend request, or why it cannot run (it becomes an error record).

    The one set of record rules, used by Validating and by the runner alike; ``seen`` collects
    recordIds so later duplicates are caught.
    """
    if len(line) > max_record_bytes:
        record = parse_line(b"null", job_id, file_index, number)
        return record, None, f"line {number} is {len(line)} bytes; the limit per record is {max_record_bytes}"
    record = parse_line(line, job_id, file_index, number)
    if not record.runnable:
        return record, None, record.problem
    if record.record_id in seen:
        return record, None, f"duplicate recordId {record.record_id}"
    seen.add(record.record_id)
    try:
        return record, request_from_json(fmt, record.input_json), None
    except FormatError as error:
        return record, None, f"modelInput: {error}"


def examine_block(job_id: str, file_index: int, lines: LineBlock, number: int, fmt: Format, seen: set[str],
                  max_record_bytes: int, sampling: Sampling | None = None) -> RecordBlock:
    """``examine_record`` for each line of a block (blank lines hold no record), the requests
    completed with ``sampling``; ``number``: the records before the block. A block of well-formed
    records with new recordIds is examined in a few calls for all, with the same outcome; any
    other, line by line."""
    block = _examine_well_formed(job_id, file_index, lines, number, fmt, seen, max_record_bytes, sampling)
    if block is not None:
        return block
    ids, inputs, requests, problems, first = [], [], [], [], number + 1
    for line in lines.lines():
        if is_blank(line):
            continue
        number += 1
        record, request, problem = examine_record(job_id, file_index, line, number, fmt, seen, max_record_bytes)
        ids.append(record.record_id)
        inputs.append(record.input_json)
        problems.append((problem or "") if request is None else None)
        if request is not None:
            requests.append(request if sampling is None else sampling.apply(request, record.record_id))
    return RecordBlock(ids, inputs, requests, None if len(requests) == len(ids) else problems,
                       record_key(job_id, file_index, first))


def _examine_well_formed(job_id: str, file_index: int, lines: LineBlock, number: int, fmt: Format,
                         seen: set[str], max_record_bytes: int, sampling: Sampling | None) -> RecordBlock | None:
    """The block examined whole, or None unless each line is a record within the size limit, with
    a recordId (given or generated) that is not empty and not seen before."""
    if not lines.records or lines.longest > max_record_bytes:
        return None
    envelopes = lines.envelopes()
    if envelopes is None:
        return None
    ids = _record_ids(job_id, file_index, number, list(map(_RECORD_ID, envelopes)))
    if not seen.isdisjoint(ids):
        return None
    before = len(seen)
    seen.update(ids)
    # a recordId twice in the block, or an empty one ("" is never in ``seen`` before: it is refused)
    if len(seen) - before != len(ids) or "" in seen:
        seen.difference_update(ids)  # none of them was there before
        return None
    inputs = list(map(_MODEL_INPUT, envelopes))
    outcomes = requests_from_json(fmt, inputs, sampling, ids)
    key = record_key(job_id, file_index, number + 1)
    if list(map(type, outcomes)).count(GenerationRequest) == len(outcomes):  # all can run: counted in C
        return RecordBlock(ids, inputs, cast(list[GenerationRequest], outcomes), None, key)
    problems = [f"modelInput: {outcome}" if isinstance(outcome, FormatError) else None for outcome in outcomes]
    return RecordBlock(ids, inputs, [outcome for outcome in outcomes if not isinstance(outcome, FormatError)], problems,
                       key)


def _record_ids(job_id: str, file_index: int, number: int, given: list[str | None]) -> list[str]:
    """The recordIds given, with a generated one for each record that has none."""
    if None not in given:
        return cast(list[str], given)
    return [generated_record_id(job_id, file_index, number + place) if record_id is None else record_id
            for place, record_id in enumerate(given, 1)]


def record_problem(job: Job, line: bytes, index: int, number: int, fmt: Format, seen: set[str],
                   config: EngineConfig) -> str | None:
    """Why a record cannot run, naming its line; None when it can."""
    _record, _request, problem = examine_record(job.job_id, index, line, number, fmt, seen, config.max_record_bytes)
    if problem is None or problem.startswith("line "):
        return problem
    return f"line {number}: {problem}"
