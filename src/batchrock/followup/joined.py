"""A job's records joined: each input record beside its output line, in input order, streamed.

The engine writes one output line per non-blank input line, in input order, to
``<output>/<jobId>/<input name relative to the input prefix>.out`` (``engine.inputs``), so the
n-th record of an input file and the n-th line of its ``.out`` are the same record. Files are
read in key order, as the job read them. An output that ends early (a job stopped, timed out or
still running), or is missing (a file the job never reached), leaves the rest of its file's
records without output: they are ``notRun``, never dropped.

Only two lines are held at a time. A record that ran is reported as its output line reports it
(recordId and modelInput as the job saw them); one that did not, as the engine reads its input
line. A recordId that differs between the two means the input changed after the job ran, and
the join stops rather than pair the wrong lines.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from enum import Enum
from typing import Any

import msgspec

from batchrock.engine.inputs import input_objects, output_key
from batchrock.engine.records import InputRecord, generated_record_id, is_blank, parse_line
from batchrock.followup.errors import OutputMismatch
from batchrock.followup.jobinfo import JobInfo
from batchrock.storage.base import Location, ObjectStore, read_lines


class RecordStatus(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # an error record: the output line holds ``error`` in place of ``modelOutput``
    NOT_RUN = "notRun"  # no output line (yet)


class _OutputLine(msgspec.Struct):
    recordId: str
    modelInput: msgspec.Raw
    modelOutput: msgspec.Raw = msgspec.Raw()  # empty: the member is absent
    error: msgspec.Raw = msgspec.Raw()


_OUTPUT_LINE = msgspec.json.Decoder(_OutputLine)


@dataclass(frozen=True)
class FilePair:
    index: int  # the file's place in the job's key-ordered inputs (generated recordIds depend on it)
    name: str  # relative to the input prefix, as in the output layout
    input: Location
    output: Location


@dataclass(frozen=True)
class JoinedRecord:
    file: str
    number: int  # the record's place in its file, from 1; blank lines are not records
    source: InputRecord  # the input line as the engine reads it
    record_id: str
    model_input: Any  # JSON text: bytes or a msgspec.Raw view
    status: RecordStatus
    outcome: msgspec.Raw | None  # the modelOutput or the error, as JSON; None when notRun


def job_files(objects: ObjectStore, job: JobInfo) -> list[FilePair]:
    """The job's input files in key order, each with the output object the engine writes for it."""
    source, output = Location.parse(job.input_uri), Location.parse(job.output_uri)
    prefix, inputs = input_objects(objects, source)
    pairs = []
    for index, info in enumerate(inputs):
        name = info.key[len(prefix):]
        pairs.append(FilePair(index, name, Location(source.bucket, info.key),
                              Location(output.bucket, output_key(output, job.job_id, name))))
    return pairs


def joined_records(objects: ObjectStore, job: JobInfo) -> Iterator[JoinedRecord]:
    for pair in job_files(objects, job):
        yield from _join_file(objects, job.job_id, pair)


def _join_file(objects: ObjectStore, job_id: str, pair: FilePair) -> Iterator[JoinedRecord]:
    with closing(_lines(objects, pair.input)) as inputs, closing(_output_lines(objects, pair.output)) as outputs:
        number = 0
        for line in inputs:
            if is_blank(line):
                continue
            number += 1
            yield _joined(job_id, pair, number, line, next(outputs, None))
        if next(outputs, None) is not None:
            raise OutputMismatch(f"{pair.output} has more lines than {pair.input} has records: "
                                 "the input changed after the job ran")


def _lines(objects: ObjectStore, location: Location) -> Generator[bytes, None, None]:
    lines = read_lines(objects.open_read(location.bucket, location.key))
    try:
        for line, _end in lines:
            yield line
    finally:
        lines.close()  # closes the object's stream too, also when the reader stops early


def _output_lines(objects: ObjectStore, location: Location) -> Generator[bytes, None, None]:
    if objects.head(location.bucket, location.key) is None:
        return
    with closing(_lines(objects, location)) as lines:
        yield from (line for line in lines if not is_blank(line))


def _joined(job_id: str, pair: FilePair, number: int, line: bytes, output: bytes | None) -> JoinedRecord:
    source = parse_line(line, job_id, pair.index, number)
    if output is None:
        return JoinedRecord(pair.name, number, source, source.record_id, source.input_json, RecordStatus.NOT_RUN, None)
    ran = _decode(output, pair, number)
    _check_same_record(ran.recordId, source, job_id, pair, number)
    if ran.error:
        return JoinedRecord(pair.name, number, source, ran.recordId, ran.modelInput, RecordStatus.FAILED, ran.error)
    return JoinedRecord(pair.name, number, source, ran.recordId, ran.modelInput, RecordStatus.SUCCEEDED,
                        ran.modelOutput)


def _decode(output: bytes, pair: FilePair, number: int) -> _OutputLine:
    try:
        ran = _OUTPUT_LINE.decode(output)
    except msgspec.MsgspecError as error:
        raise OutputMismatch(f"line {number} of {pair.output} is not an output record: {error}") from None
    if not ran.modelOutput and not ran.error:
        raise OutputMismatch(f"line {number} of {pair.output} has neither modelOutput nor error")
    return ran


def _check_same_record(output_id: str, source: InputRecord, job_id: str, pair: FilePair, number: int) -> None:
    # A line the engine could not read (not JSON, too long) ran under the id it generates for its place.
    if output_id in (source.record_id, generated_record_id(job_id, pair.index, number)):
        return
    raise OutputMismatch(f"record {number} of {pair.input} is {source.record_id!r}, but line {number} of "
                         f"{pair.output} is {output_id!r}: the input changed after the job ran")
