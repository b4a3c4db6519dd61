"""Input records and output lines, in Bedrock's batch format.

Input line:  ``{"recordId": "...", "modelInput": {...}}`` (recordId optional).
Output line: ``{"recordId", "modelInput", "modelOutput"}``, or ``"error": {"errorCode", "errorMessage"}``
in place of ``modelOutput``. Every input line, parseable or not, yields exactly one output line.

A record keeps its modelInput as the JSON it was given: a well-formed line is decoded once, by
msgspec, into its recordId and the raw bytes of its modelInput, and the output line carries
those bytes as they are; only a line with something wrong goes the slow way, to name it.
Output lines are records of their own (``Answered``, ``Failed``), a block's encoded in one call.
"""

from __future__ import annotations

import hashlib
import string
from typing import Any

import msgspec
import orjson

_ID_ALPHABET = string.ascii_uppercase + string.digits
GENERATED_ID_LENGTH = 11


class InputRecord(msgspec.Struct, frozen=True, gc=False):
    record_id: str
    input_json: msgspec.Raw  # the modelInput's JSON text, as given (a view of the line where it can be)
    problem: str | None = None  # why the line cannot be run; it becomes an error record

    @property
    def runnable(self) -> bool:
        return self.problem is None


class Envelope(msgspec.Struct, gc=False):  # decoded, never changed: no cycle, so nothing for the collector
    modelInput: msgspec.Raw
    recordId: str | None = None


class Answered(msgspec.Struct, gc=False):
    """The output line of a record the model answered (its fields, in Bedrock's order, are its keys)."""

    recordId: str
    modelInput: msgspec.Raw
    modelOutput: Any  # the format's answer: a dict, or a msgspec Struct that encodes as that dict


class RecordError(msgspec.Struct, gc=False):
    errorCode: int
    errorMessage: str


class Failed(msgspec.Struct, gc=False):
    """The output line of a record that could not run, or that the backend failed."""

    recordId: str
    modelInput: msgspec.Raw
    error: RecordError


_ENVELOPE = msgspec.json.Decoder(Envelope)
_LINES = msgspec.json.Encoder()


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
        envelope = _ENVELOPE.decode(line)
    except msgspec.MsgspecError:
        return _parse_slowly(line, job_id, file_index, line_number)
    record_id = envelope.recordId
    if record_id is None:
        record_id = generated_record_id(job_id, file_index, line_number)
    elif not record_id:
        return _parse_slowly(line, job_id, file_index, line_number)
    return InputRecord(record_id, envelope.modelInput)


def _parse_slowly(line: bytes, job_id: str, file_index: int, line_number: int) -> InputRecord:
    """A line the fast decoder refused: find out what is wrong with it, in the words users see."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        text = line.decode("utf-8", errors="replace")
        return InputRecord(generated_record_id(job_id, file_index, line_number), _raw(text),
                           f"line {line_number} is not valid JSON: {error}")
    if not isinstance(document, dict):
        return InputRecord(generated_record_id(job_id, file_index, line_number), _raw(document),
                           f"line {line_number} must be a JSON object with recordId and modelInput")
    model_input = _raw(document.get("modelInput"))
    record_id = document.get("recordId")
    if record_id is None:
        record_id = generated_record_id(job_id, file_index, line_number)
    elif not isinstance(record_id, str) or not record_id:
        return InputRecord(generated_record_id(job_id, file_index, line_number), model_input,
                           f"line {line_number}: recordId must be a non-empty string")
    if "modelInput" not in document:
        return InputRecord(record_id, _raw(None), f"line {line_number} has no modelInput")
    return InputRecord(record_id, model_input)


def _raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(orjson.dumps(value))


def decode_envelope_lines(data: bytes | memoryview, count: int) -> list[Envelope] | None:
    """The envelopes of whole lines (blank ones hold none), as ``parse_line`` decodes each, in one
    call; None unless there are ``count`` and each line is a well-formed record (the caller then
    goes line by line, to name what is wrong)."""
    try:
        envelopes = _ENVELOPE.decode_lines(data)
    except msgspec.MsgspecError:
        return None
    return envelopes if len(envelopes) == count else None  # two values on one line are not one record


def is_blank(line: bytes) -> bool:
    return not line.strip()


def failed(record_id: str, model_input: msgspec.Raw, code: int, message: str) -> Failed:
    return Failed(record_id, model_input, RecordError(code, message))


def output_lines(records: list[Answered | Failed]) -> bytes:
    """The records' output lines, each ended by a newline, encoded in one call."""
    return _LINES.encode_lines(records)
