"""A file's records a block at a time: examined together, answered by one backend call, and
written as one reorder slot.

A block holds as many records as the backend takes per call (engine/lines.py reads them). Its
records are examined together (``validate.examine_block``), the ones that can run go to the
backend in one call, and its output lines are made in one pass when the call returns (one
msgspec call encodes them all): a record costs a few list items, not a task, a reorder slot and
a halt check of its own.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from operator import attrgetter
from typing import TypeVar, cast

import msgspec

from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult
from batchrock.engine.ordered import Written
from batchrock.engine.records import Answered, Failed, failed, output_lines
from batchrock.formats.base import Renderer

Answer = GenerationResult | BackendError
_T = TypeVar("_T")
_INPUT_TOKENS, _OUTPUT_TOKENS = attrgetter("input_tokens"), attrgetter("output_tokens")


def record_key(job_id: str, file_index: int, number: int) -> int:
    """A record's key, unique in its job: the job id's CRC, the file's index and the record's
    number in the file (from 1), 96 bits; the same however often the record runs."""
    return (zlib.crc32(job_id.encode()) << 64) | (file_index << 40) | number


def all_results(answers: Sequence[Answer]) -> bool:
    """Whether every answer is a result (no error), counted in C: every call asks."""
    return list(map(type, answers)).count(GenerationResult) == len(answers)


class RecordBlock:
    """The records of a block of lines (blank lines hold none), examined: each one's recordId and
    modelInput, the requests of those that can run, and why each other one cannot."""

    __slots__ = ("first_key", "ids", "inputs", "problems", "requests")

    def __init__(self, ids: list[str], inputs: list[msgspec.Raw], requests: list[GenerationRequest],
                 problems: list[str | None] | None, first_key: int = 0) -> None:
        self.ids = ids
        self.inputs = inputs  # the modelInputs' JSON, as given (msgspec.Raw)
        self.requests = requests  # the records that can run, in order (completed with the job's sampling)
        self.problems = problems  # one per record, None for each that can run; None: they all can
        self.first_key = first_key  # its first record's key in the job (record_key); the next ones follow

    def runnable_keys(self) -> Sequence[int]:
        """The keys of the records that can run (what an answer's id is made from): a range when they all can."""
        keys = range(self.first_key, self.first_key + len(self.ids))
        return keys if self.problems is None else self._runnable(list(keys))

    def runnable_ids(self) -> list[str]:
        return self.ids if self.problems is None else self._runnable(self.ids)

    def written(self, answers: Sequence[Answer], render: Renderer, model_id: str, end: int) -> Written:
        """The block's output lines in input order, with what they count; ``answers`` answer its requests."""
        if len(answers) != len(self.requests):
            raise ValueError(f"the backend gave {len(answers)} answers to {len(self.requests)} requests")
        if not self.ids:
            return Written(None, end, records=0)
        lines, results = self._answered(self.requests, answers, render, model_id)
        if self.problems is not None:
            lines = self._with_problems(lines, self.problems)
        return Written(output_lines(lines), end, len(results), sum(map(_INPUT_TOKENS, results)),
                       sum(map(_OUTPUT_TOKENS, results)), len(self.ids))

    def _answered(self, requests: Sequence[GenerationRequest], answers: Sequence[Answer], render: Renderer,
                  model_id: str) -> tuple[list[Answered | Failed], Sequence[GenerationResult]]:
        """The output lines of the records that went to the backend, and the results among their answers."""
        ids, inputs = self.runnable_ids(), self.inputs if self.problems is None else self._runnable(self.inputs)
        if all_results(answers):  # as most calls are: the lines made in C's loop, with no test per record
            results = cast(Sequence[GenerationResult], answers)
            return list(map(Answered, ids, inputs, render(requests, results, model_id, self.runnable_keys()))), results
        answered = [(request, answer, key) for request, answer, key in zip(requests, answers, self.runnable_keys(), strict=True)
                    if not isinstance(answer, BackendError)]
        results = [answer for _request, answer, _key in answered]
        rendered = iter(render([request for request, _answer, _key in answered], results, model_id,
                               [key for _request, _answer, key in answered]))
        lines: list[Answered | Failed] = [
            failed(record_id, model_input, answer.status, str(answer)) if isinstance(answer, BackendError)
            else Answered(record_id, model_input, next(rendered))
            for record_id, model_input, answer in zip(ids, inputs, answers, strict=True)]
        return lines, results

    def _runnable(self, values: list[_T]) -> list[_T]:
        return [value for value, problem in zip(values, self.problems or (), strict=True) if problem is None]

    def _with_problems(self, answered: list[Answered | Failed], problems: list[str | None]) -> list[Answered | Failed]:
        """The answered records' lines, and an error line for each record that could not run, in input order."""
        lines = iter(answered)
        return [next(lines) if problem is None else failed(record_id, model_input, 400, problem)
                for record_id, model_input, problem in zip(self.ids, self.inputs, problems, strict=True)]
