"""``batchrock estimate``: what a batch input would take, before it runs.

Records, input tokens and a bound on output tokens. Every record is examined by the engine's
own rules (``engine.validate.examine_record``: JSON, recordId, size, duplicates within a file,
the model's request schema, under the format the job would use); a record they refuse would be
an error record, and is counted apart with the first reason. The records that would run are
measured by ``tokens``: exactly for llama.cpp models, approximately otherwise. Files are
streamed line by line; only a file's recordIds are held, to find duplicates as the engine does.

The input: an ``s3://`` URI names one ``.jsonl`` object or a prefix whose ``.jsonl`` objects are
read in key order, as a job reads them (``engine.inputs``); a local path names one file
(whatever its name) or a folder whose ``.jsonl`` files, at any depth, are read in the order of
their relative paths, as the same folder uploaded as a prefix would be.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from batchrock.catalog import Catalog, ModelEntry
from batchrock.engine.config import EngineConfig
from batchrock.engine.inputs import INPUT_SUFFIX, input_objects
from batchrock.engine.records import is_blank
from batchrock.engine.validate import examine_record
from batchrock.followup.errors import InputUnusable
from batchrock.followup.tokens import Measure, Tokenizer, tokenizer_for
from batchrock.formats.base import Format
from batchrock.formats.converse import CONVERSE
from batchrock.formats.registry import format_named
from batchrock.storage.base import Location, ObjectStore, read_lines

# Generated recordIds depend on the job's id; no job exists yet, and the ids are not reported.
_NO_JOB = "estimate"


@dataclass(frozen=True)
class InputFile:
    name: str
    open: Callable[[], BinaryIO]


def s3_input_files(objects: ObjectStore, uri: str) -> list[InputFile]:
    source = Location.parse(uri)
    _prefix, inputs = input_objects(objects, source)
    if not inputs:
        raise InputUnusable(f"no .jsonl objects under {uri}")
    return [InputFile(f"s3://{source.bucket}/{info.key}", partial(objects.open_read, source.bucket, info.key))
            for info in inputs]


def local_input_files(path: Path) -> list[InputFile]:
    if path.is_file():
        return [InputFile(str(path), partial(_open, path))]
    if not path.is_dir():
        raise InputUnusable(f"{path} does not exist")
    found = sorted((found for found in path.rglob(f"*{INPUT_SUFFIX}") if found.is_file()),
                   key=lambda found: found.relative_to(path).as_posix())
    if not found:
        raise InputUnusable(f"no {INPUT_SUFFIX} files in {path}")
    return [InputFile(str(file), partial(_open, file)) for file in found]


def _open(path: Path) -> BinaryIO:
    return open(path, "rb")


@dataclass
class Tally:
    records: int = 0
    runnable: int = 0
    refused: int = 0  # the engine's record rules refuse them: error records
    too_long: int = 0  # the prompt does not fit the model's context: error records
    input_tokens: int = 0
    output_token_bound: int = 0
    first_problem: str | None = None

    def measured(self, measure: Measure) -> None:
        if not measure.fits:
            self.too_long += 1
            return
        self.runnable += 1
        self.input_tokens += measure.input_tokens
        self.output_token_bound += measure.output_bound

    def refuse(self, problem: str) -> None:
        self.refused += 1
        self.first_problem = self.first_problem or problem


@dataclass(frozen=True)
class Estimate:
    model_id: str
    format: str
    backend: str
    files: int
    tokenizer: str
    exact: bool
    tally: Tally


def model_entry(catalog: Catalog, model_id: str) -> ModelEntry:
    entry = catalog.resolve(model_id)
    if entry is None:
        raise InputUnusable(f"the model {model_id} is not in the catalog (see `batchrock models`)")
    return entry


def estimate(files: list[InputFile], model_id: str, catalog: Catalog, converse: bool = False) -> Estimate:
    """``converse``: the records are Converse requests (``modelInvocationType: Converse``)."""
    entry = model_entry(catalog, model_id)
    fmt = CONVERSE if converse else format_named(entry.format)
    tokenizer = tokenizer_for(entry)
    tally = Tally()
    for index, source in enumerate(files):
        _scan(source, index, fmt, tokenizer, tally)
    return Estimate(model_id, fmt.name, entry.backend, len(files), tokenizer.description, tokenizer.exact, tally)


def _scan(source: InputFile, index: int, fmt: Format, tokenizer: Tokenizer, tally: Tally) -> None:
    seen: set[str] = set()
    number = 0
    max_record_bytes = EngineConfig.max_record_bytes
    with closing(read_lines(source.open())) as lines:
        for line, _end in lines:
            if is_blank(line):
                continue
            number += 1
            tally.records += 1
            _record, request, problem = examine_record(_NO_JOB, index, line, number, fmt, seen, max_record_bytes)
            if request is None:
                tally.refuse(f"{source.name}: record {number}: {problem}")
            else:
                tally.measured(tokenizer.measure(request))
