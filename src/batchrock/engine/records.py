"""Input records and output lines, in Bedrock's batch format.

Input line:  ``{"recordId": "...", "modelInput": {...}}`` (recordId optional).
Output line: ``{"recordId", "modelInput", "modelOutput"}``, or ``"error": {"errorCode", "errorMessage"}``
in place of ``modelOutput``. Every input line, parseable or not, yields exactly one output line.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from typing import Any

import orjson

_ID_ALPHABET = string.ascii_uppercase + string.digits
GENERATED_ID_LENGTH = 11


@dataclass(frozen=True)
class InputRecord:
    record_id: str
    model_input: Any
    problem: str | None = None  # why the line cannot be run; it becomes an error record

    @property
    def runnable(self) -> bool:
        return self.problem is None


def generated_record_id(job_id: str, file_index: int, line_number: int) -> str:
    """Bedrock-style 11-character id, the same every time the same line is read (resume-safe)."""
    number = int.from_bytes(hashlib.sha256(f"{job_id}/{file_index}/{line_number}".encode()).digest()[:8], "big")
    chars = []
    for _ in range(GENERATED_ID_LENGTH):
        number, digit = divmod(number, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[digit])
    return "".join(chars)


def parse_line(line: bytes, job_id: str, file_index: int, line_number: int) -> InputRecord:
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        text = line.decode("utf-8", errors="replace")
        return InputRecord(generated_record_id(job_id, file_index, line_number), text,
                           f"line {line_number} is not valid JSON: {error}")
    if not isinstance(document, dict):
        return InputRecord(generated_record_id(job_id, file_index, line_number), document,
                           f"line {line_number} must be a JSON object with recordId and modelInput")
    record_id = document.get("recordId")
    if record_id is None:
        record_id = generated_record_id(job_id, file_index, line_number)
    elif not isinstance(record_id, str) or not record_id:
        return InputRecord(generated_record_id(job_id, file_index, line_number), document.get("modelInput"),
                           f"line {line_number}: recordId must be a non-empty string")
    if "modelInput" not in document:
        return InputRecord(record_id, None, f"line {line_number} has no modelInput")
    return InputRecord(record_id, document["modelInput"])


def is_blank(line: bytes) -> bool:
    return not line.strip()


def success_line(record: InputRecord, model_output: Any) -> bytes:
    return orjson.dumps({"recordId": record.record_id, "modelInput": record.model_input, "modelOutput": model_output}) + b"\n"


def error_line(record: InputRecord, code: int, message: str) -> bytes:
    error = {"errorCode": code, "errorMessage": message}
    return orjson.dumps({"recordId": record.record_id, "modelInput": record.model_input, "error": error}) + b"\n"
