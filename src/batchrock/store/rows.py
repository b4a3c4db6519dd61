"""Mapping between Job records and rows of the ``jobs`` table, and between file progress and ``job_files``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import orjson

from batchrock.jobs.model import (
    InvocationType,
    Job,
    JobSpec,
    JobStatus,
    Owner,
    RecordCounts,
    S3InputConfig,
    S3OutputConfig,
    VpcConfig,
)
from batchrock.jobs.store import FileProgress
from batchrock.jobs.timecodec import from_micros, from_optional_micros, to_micros
from batchrock.store.schema import FILE_COUNT_COLUMNS, JOB_COUNT_COLUMNS


def _dump(value: Any) -> str | None:
    return None if value is None else orjson.dumps(asdict(value)).decode()


def job_to_row(job: Job) -> dict[str, Any]:
    spec = job.spec
    return {
        "job_id": job.job_id,
        "account_id": job.owner.account_id,
        "region": job.owner.region,
        "job_name": spec.job_name,
        "role_arn": spec.role_arn,
        "model_id": spec.model_id,
        "client_request_token": spec.client_request_token,
        "request_fingerprint": job.request_fingerprint,
        "status": job.status.value,
        "message": job.message,
        "submit_us": to_micros(job.submit_time),
        "last_modified_us": to_micros(job.last_modified_time),
        "end_us": None if job.end_time is None else to_micros(job.end_time),
        "expiration_us": to_micros(job.expiration_time),
        "timeout_hours": spec.timeout_hours,
        "invocation_type": None if spec.invocation_type is None else spec.invocation_type.value,
        "input_config": _dump(spec.input_config),
        "output_config": _dump(spec.output_config),
        "vpc_config": _dump(spec.vpc_config),
        **counts_to_row(job.counts),
    }


def counts_to_row(counts: RecordCounts, columns: Mapping[str, str] = JOB_COUNT_COLUMNS) -> dict[str, int]:
    """The counts by column: of ``jobs`` by default, or of ``job_files`` (``FILE_COUNT_COLUMNS``)."""
    return {column: getattr(counts, name) for name, column in columns.items()}


def counts_from_row(row: Mapping[Any, Any], columns: Mapping[str, str] = JOB_COUNT_COLUMNS) -> RecordCounts:
    return RecordCounts(**{name: row[column] for name, column in columns.items()})


def _vpc(text: str | None) -> VpcConfig | None:
    if text is None:
        return None
    data = orjson.loads(text)
    return VpcConfig(tuple(data["subnet_ids"]), tuple(data["security_group_ids"]))


def row_to_job(row: Mapping[Any, Any]) -> Job:  # a dict or an SQLAlchemy RowMapping
    spec = JobSpec(
        job_name=row["job_name"],
        role_arn=row["role_arn"],
        model_id=row["model_id"],
        input_config=S3InputConfig(**orjson.loads(row["input_config"])),
        output_config=S3OutputConfig(**orjson.loads(row["output_config"])),
        timeout_hours=row["timeout_hours"],
        invocation_type=None if row["invocation_type"] is None else InvocationType(row["invocation_type"]),
        vpc_config=_vpc(row["vpc_config"]),
        client_request_token=row["client_request_token"],
    )
    return Job(
        job_id=row["job_id"],
        owner=Owner(row["account_id"], row["region"]),
        spec=spec,
        status=JobStatus(row["status"]),
        submit_time=from_micros(row["submit_us"]),
        last_modified_time=from_micros(row["last_modified_us"]),
        expiration_time=from_micros(row["expiration_us"]),
        request_fingerprint=row["request_fingerprint"],
        message=row["message"],
        end_time=from_optional_micros(row["end_us"]),
        counts=counts_from_row(row),
    )


def file_row(job_id: str, progress: FileProgress) -> dict[str, Any]:
    """A file's plan and checkpoint as a row of ``job_files``."""
    return {
        "job_id": job_id,
        "file_index": progress.file_index,
        "input_key": progress.input_key,
        "output_key": progress.output_key,
        "parts": orjson.dumps(progress.parts).decode(),
        "input_offset": progress.input_offset,
        "done": int(progress.done),
        **counts_to_row(progress.counts, FILE_COUNT_COLUMNS),
    }


def file_progress(row: Mapping[Any, Any]) -> FileProgress:
    counts = counts_from_row(row, FILE_COUNT_COLUMNS)
    return FileProgress(
        file_index=row["file_index"],
        input_key=row["input_key"],
        output_key=row["output_key"],
        record_count=counts.total,
        parts=tuple(str(key) for key in orjson.loads(row["parts"])),
        input_offset=row["input_offset"],
        done=bool(row["done"]),
    ).with_counts(counts)
