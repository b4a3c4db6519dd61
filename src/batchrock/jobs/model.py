"""Typed job records: what a model invocation job is, independent of the wire and the store."""

from __future__ import annotations

from dataclasses import astuple, dataclass, field, fields
from datetime import datetime
from enum import Enum


class JobStatus(str, Enum):
    """Equal, member for member, to the service model's ModelInvocationJobStatus enum."""

    SUBMITTED = "Submitted"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    PARTIALLY_COMPLETED = "PartiallyCompleted"
    EXPIRED = "Expired"
    VALIDATING = "Validating"
    SCHEDULED = "Scheduled"


class FailureKind(str, Enum):
    """Why a job failed, where the failure was the world's fault rather than the job's
    (which of these an operator may resume: ``transitions.RESUME``)."""

    STORAGE = "storage"  # the object store stayed unreachable past the outage limit
    OUTPUT_CHECK = "output"  # the assembled output did not match the checkpointed counts


class InvocationType(str, Enum):
    INVOKE_MODEL = "InvokeModel"
    CONVERSE = "Converse"


class SortOrder(str, Enum):
    ASCENDING = "Ascending"
    DESCENDING = "Descending"


@dataclass(frozen=True)
class S3InputConfig:
    s3_uri: str
    s3_input_format: str | None = None
    s3_bucket_owner: str | None = None


@dataclass(frozen=True)
class S3OutputConfig:
    s3_uri: str
    s3_encryption_key_id: str | None = None
    s3_bucket_owner: str | None = None


@dataclass(frozen=True)
class VpcConfig:
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]


@dataclass(frozen=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True)
class RecordCounts:
    """A job's counts. Their one list: every other name a count goes by (store columns, manifest
    and API members, headers, a file's share) is mapped from these fields (``COUNT_NAMES``)."""

    total: int = 0
    processed: int = 0
    success: int = 0
    error: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: RecordCounts) -> RecordCounts:
        return RecordCounts(*(mine + theirs for mine, theirs in zip(astuple(self), astuple(other), strict=True)))

    def by_member(self) -> dict[str, int]:
        """Each count under its Bedrock member name, as in the manifest: ``totalRecordCount``..."""
        return {member: getattr(self, name) for name, member in COUNT_MEMBERS.items()}


def count_member(name: str) -> str:
    """Bedrock's member name for a count: ``processed`` -> ``processedRecordCount``,
    ``input_tokens`` -> ``inputTokenCount`` (camelCase, counting records or tokens)."""
    if name.endswith("_tokens"):
        return f"{name.removesuffix('_tokens')}TokenCount"
    return f"{name}RecordCount"


COUNT_NAMES: tuple[str, ...] = tuple(count.name for count in fields(RecordCounts))
COUNT_MEMBERS = {name: count_member(name) for name in COUNT_NAMES}


@dataclass(frozen=True)
class Owner:
    """Who a job belongs to: jobs are scoped to one account in one region, as on Bedrock."""

    account_id: str
    region: str

    def job_arn(self, job_id: str) -> str:
        return f"arn:aws:bedrock:{self.region}:{self.account_id}:model-invocation-job/{job_id}"


@dataclass(frozen=True)
class JobSpec:
    """What the client asked for in CreateModelInvocationJob."""

    job_name: str
    role_arn: str
    model_id: str
    input_config: S3InputConfig
    output_config: S3OutputConfig
    timeout_hours: int
    invocation_type: InvocationType | None = None
    vpc_config: VpcConfig | None = None
    client_request_token: str | None = None


@dataclass(frozen=True)
class Job:
    job_id: str
    owner: Owner
    spec: JobSpec
    status: JobStatus
    submit_time: datetime
    last_modified_time: datetime
    expiration_time: datetime
    request_fingerprint: str
    message: str | None = None
    end_time: datetime | None = None
    counts: RecordCounts = field(default_factory=RecordCounts)

    @property
    def arn(self) -> str:
        return self.owner.job_arn(self.job_id)
