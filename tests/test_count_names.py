"""A job's counts are listed once (``RecordCounts``); every other name they go by is mapped from
that list. These pin the names that leave the process: columns, manifest, API members, headers."""

from __future__ import annotations

from datetime import UTC, datetime

from batchrock.api.wire import count_headers, job_to_wire
from batchrock.engine.outputs import manifest_of
from batchrock.engine.runner import total_counts
from batchrock.jobs.model import Job, JobSpec, JobStatus, Owner, RecordCounts, S3InputConfig, S3OutputConfig
from batchrock.jobs.store import FileProgress
from batchrock.store.schema import FILE_COUNT_COLUMNS, JOB_COUNT_COLUMNS, job_files, jobs

COUNTS = RecordCounts(total=6, processed=5, success=4, error=1, input_tokens=30, output_tokens=70)


def _job(counts: RecordCounts) -> Job:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    spec = JobSpec("name", "arn:aws:iam::000000000000:role/r", "model", S3InputConfig("s3://in/"),
                   S3OutputConfig("s3://out/"), 24)
    return Job("abcdefghij12", Owner("000000000000", "us-east-1"), spec, JobStatus.IN_PROGRESS, moment, moment,
               moment, "fingerprint", counts=counts)


def test_the_manifest_names_each_count_as_bedrock_does() -> None:
    assert manifest_of(COUNTS) == {"totalRecordCount": 6, "processedRecordCount": 5, "successRecordCount": 4,
                                   "errorRecordCount": 1, "inputTokenCount": 30, "outputTokenCount": 70}


def test_get_and_list_carry_the_modelled_counts_and_headers_the_tokens() -> None:
    job = _job(COUNTS)
    wire = job_to_wire(job)
    assert {name: value for name, value in wire.items() if name.endswith("Count")} == {
        "totalRecordCount": 6, "processedRecordCount": 5, "successRecordCount": 4, "errorRecordCount": 1}
    assert count_headers(job) == {"x-batchrock-input-tokens": "30", "x-batchrock-output-tokens": "70"}


def test_the_count_columns_are_the_schema_s() -> None:
    assert list(JOB_COUNT_COLUMNS.values()) == ["total_records", "processed_records", "success_records",
                                                "error_records", "input_tokens", "output_tokens"]
    assert list(FILE_COUNT_COLUMNS.values()) == ["record_count", "records_done", "success_records",
                                                 "error_records", "input_tokens", "output_tokens"]
    assert set(JOB_COUNT_COLUMNS.values()) <= set(jobs.c.keys())
    assert set(FILE_COUNT_COLUMNS.values()) <= set(job_files.c.keys())


def test_a_file_holds_its_share_of_every_count() -> None:
    progress = FileProgress(0, "in/a.jsonl", "out/a.jsonl.out", 6, (), 0, 5, 4, 1, 30, 70)
    assert progress.counts == COUNTS
    assert progress.with_counts(RecordCounts()).with_counts(COUNTS) == progress


def test_the_job_counts_add_the_files_shares_up_under_the_job_total() -> None:
    files = [FileProgress(0, "a", "a.out", 6).with_counts(COUNTS), FileProgress(1, "b", "b.out", 6).with_counts(COUNTS)]
    assert total_counts(files, 12) == RecordCounts(12, 10, 8, 2, 60, 140)
