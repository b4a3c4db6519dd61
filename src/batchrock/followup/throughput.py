"""How fast a backend model has run on this server: measured on its recent completed jobs.

Through the API: the most recent ``Completed`` jobs (at most 10, among the newest 500 the
caller can list) whose model resolves, in the catalog given, to the same backend with the same
options (so ``anthropic.claude-*`` and ``meta.llama*`` on one GGUF count together). For each: its
output tokens (Get's ``x-batchrock-output-tokens`` header), its processed records, and its
duration, ``endTime - submitTime``. The API records no start time, so a duration includes
validation and any wait for a free slot, and the rates are on the slow side. The jobs are
pooled: total output tokens / total seconds, total records / total seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from batchrock.api.wire import count_header
from batchrock.catalog import Catalog, ModelEntry

SAMPLED_JOBS = 10
SCANNED_JOBS = 500


@dataclass(frozen=True)
class Sample:
    job_id: str
    output_tokens: int
    records: int
    seconds: float


@dataclass(frozen=True)
class Throughput:
    job_ids: tuple[str, ...]
    output_tokens: int
    records: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.output_tokens / self.seconds

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds


@dataclass(frozen=True)
class RunTime:
    by_records: float  # seconds: the records that would run, at the measured records per second
    by_token_bound: float | None  # seconds: the output-token bound at the measured tokens per second


def measured_throughput(client: Any, catalog: Catalog, entry: ModelEntry) -> Throughput | None:
    """``client``: a botocore Bedrock client; None when no completed job of the backend model is found."""
    samples = list(islice(_samples(client, catalog, entry), SAMPLED_JOBS))
    if not samples:
        return None
    return Throughput(tuple(sample.job_id for sample in samples), sum(sample.output_tokens for sample in samples),
                      sum(sample.records for sample in samples), sum(sample.seconds for sample in samples))


def run_time(records: int, output_token_bound: int, throughput: Throughput) -> RunTime:
    by_tokens = output_token_bound / throughput.tokens_per_second if throughput.output_tokens else None
    return RunTime(records / throughput.records_per_second, by_tokens)


def _samples(client: Any, catalog: Catalog, entry: ModelEntry) -> Iterator[Sample]:
    for summary in islice(_completed_jobs(client), SCANNED_JOBS):
        if _same_backend_model(catalog, entry, summary["modelId"]):
            sample = _sample(client, summary)
            if sample is not None:
                yield sample


def _completed_jobs(client: Any) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page = client.list_model_invocation_jobs(statusEquals="Completed", sortOrder="Descending", maxResults=100,
                                                 **({"nextToken": token} if token else {}))
        yield from page.get("invocationJobSummaries", [])
        token = page.get("nextToken")
        if not token:
            return


def _same_backend_model(catalog: Catalog, entry: ModelEntry, model_id: str) -> bool:
    other = catalog.resolve(model_id)
    return other is not None and (other.backend, other.options) == (entry.backend, entry.options)


def _sample(client: Any, summary: dict[str, Any]) -> Sample | None:
    seconds = (summary["endTime"] - summary["submitTime"]).total_seconds()
    records = int(summary.get("processedRecordCount", 0))
    if seconds <= 0 or records <= 0:
        return None
    job = client.get_model_invocation_job(jobIdentifier=summary["jobArn"])
    tokens = int(job["ResponseMetadata"]["HTTPHeaders"].get(count_header("output_tokens"), 0))
    return Sample(summary["jobArn"].rsplit("/", 1)[1], tokens, records, seconds)
