"""What a job wrote, read back for its page: the error records, the first records (each output
beside its input) and the manifest, from the ``.out`` objects under ``<outputUri>/<jobId>/``.

Reading stops at a byte budget, so the page of a job with millions of records stays quick; the
page compares what it found with the error count Get reports and says when it shows fewer.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import orjson

from batchrock.engine.inputs import INPUT_SUFFIX, OUTPUT_SUFFIX, manifest_key, parts_prefix
from batchrock.storage.base import Location, ObjectInfo, ObjectStore, StorageError, read_lines

PREVIEW_RECORDS = 5
ERROR_ROWS = 200
SCAN_BYTES = 32 * 1024 * 1024
SHOWN_CHARS = 3000


@dataclass(frozen=True)
class RecordRow:
    file: str
    record_id: str
    model_input: str  # indented JSON, cut to SHOWN_CHARS
    model_output: str | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class Results:
    files: list[str] = field(default_factory=list)
    preview: list[RecordRow] = field(default_factory=list)
    errors: list[RecordRow] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    problem: str | None = None  # why the outputs could not be read


def shown_json(value: Any) -> str:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "\n…"


def record_row(file: str, line: bytes) -> RecordRow | None:
    """One output line as a row; None for a line that is not an output record."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    error = document.get("error") if isinstance(document.get("error"), dict) else None
    output = shown_json(document["modelOutput"]) if "modelOutput" in document else None
    return RecordRow(file, str(document.get("recordId", "")), shown_json(document.get("modelInput")), output,
                     None if error is None else str(error.get("errorCode", "")),
                     None if error is None else str(error.get("errorMessage", "")))


class ResultsReader:
    def __init__(self, objects: ObjectStore, output_uri: str, job_id: str) -> None:
        self.objects = objects
        self.output = Location.parse(output_uri)
        self.folder = self.output.child(f"{job_id}/").key
        self.manifest_key = manifest_key(self.output, job_id)
        self.parts = parts_prefix(self.output, job_id)

    def read(self, error_count: int) -> Results:
        """``error_count``: the job's errorRecordCount; reading stops once that many are found."""
        try:
            files = self.output_files()
            results = Results([self._name(info) for info in files], manifest=self.manifest())
            self._scan(files, results, min(error_count, ERROR_ROWS))
        except StorageError as error:
            return Results(problem=str(error))
        return results

    def output_files(self) -> list[ObjectInfo]:
        return [info for info in self.objects.list_objects(self.output.bucket, self.folder)
                if info.key.endswith(INPUT_SUFFIX + OUTPUT_SUFFIX) and not info.key.startswith(self.parts)]

    def manifest(self) -> dict[str, Any] | None:
        if self.objects.head(self.output.bucket, self.manifest_key) is None:
            return None
        with closing(self.objects.open_read(self.output.bucket, self.manifest_key)) as stream:
            document = orjson.loads(stream.read(1 << 20))
        return document if isinstance(document, dict) else None

    def _scan(self, files: list[ObjectInfo], results: Results, wanted_errors: int) -> None:
        budget = SCAN_BYTES
        with closing(self._rows(files)) as rows:
            for row, size in rows:
                budget -= size
                if len(results.preview) < PREVIEW_RECORDS:
                    results.preview.append(row)
                if row.error_code is not None and len(results.errors) < wanted_errors:
                    results.errors.append(row)
                enough = len(results.preview) >= PREVIEW_RECORDS and len(results.errors) >= wanted_errors
                if enough or budget <= 0:
                    return

    def _rows(self, files: list[ObjectInfo]) -> Generator[tuple[RecordRow, int], None, None]:
        for info in files:
            stream = self.objects.open_read(self.output.bucket, info.key)
            with closing(read_lines(stream)) as lines:
                for line, _ in lines:
                    row = record_row(self._name(info), line)
                    if row is not None:
                        yield row, len(line) + 1

    def _name(self, info: ObjectInfo) -> str:
        return info.key.removeprefix(self.folder)
