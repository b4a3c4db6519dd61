"""``batchrock results``: every record of a job as one JSON line, input beside output, in input order.

A line is ``{"recordId", "status", "file", "modelInput", "modelOutput"}`` for a record that
succeeded, ``error`` (Bedrock's ``{"errorCode", "errorMessage"}``) in place of ``modelOutput``
for one that failed, and neither for one that has not run (``"status": "notRun"``). ``file`` is
the input file's name relative to the input prefix, as in the output layout. The JSON of
``modelInput``, ``modelOutput`` and ``error`` is copied as the files hold it, never re-encoded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from batchrock.followup.joined import JoinedRecord, RecordStatus

_OUTCOME_MEMBER = {RecordStatus.SUCCEEDED: b"modelOutput", RecordStatus.FAILED: b"error"}


@dataclass
class ResultCounts:
    succeeded: int = 0
    failed: int = 0
    not_run: int = 0

    def add(self, status: RecordStatus) -> None:
        if status is RecordStatus.SUCCEEDED:
            self.succeeded += 1
        elif status is RecordStatus.FAILED:
            self.failed += 1
        else:
            self.not_run += 1

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.not_run

    def summary(self) -> str:
        return (f"{self.total} records: {self.succeeded} succeeded, {self.failed} failed, "
                f"{self.not_run} not run")


def result_line(record: JoinedRecord) -> bytes:
    parts = [b'{"recordId":', orjson.dumps(record.record_id), b',"status":', orjson.dumps(record.status.value),
             b',"file":', orjson.dumps(record.file), b',"modelInput":', record.model_input]
    if record.outcome is not None:
        parts += [b',"', _OUTCOME_MEMBER[record.status], b'":', record.outcome]
    parts.append(b"}\n")
    return b"".join(parts)


def write_results(records: Iterable[JoinedRecord], sink: BinaryIO) -> ResultCounts:
    counts = ResultCounts()
    for record in records:
        sink.write(result_line(record))
        counts.add(record.status)
    return counts


def write_results_file(records: Iterable[JoinedRecord], path: Path) -> ResultCounts:
    """Written beside ``path`` and renamed onto it at the end, so a failed read leaves no half file there."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as sink:
            counts = write_results(records, sink)
        os.replace(partial, path)
    finally:
        with suppress(FileNotFoundError):
            partial.unlink()
    return counts
