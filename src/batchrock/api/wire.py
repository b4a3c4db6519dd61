"""Wire dicts (camelCase, as in the service model) to and from the domain's records."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from batchrock import awsmodel
from batchrock.jobs.model import (
    COUNT_MEMBERS,
    InvocationType,
    Job,
    JobSpec,
    JobStatus,
    Owner,
    S3InputConfig,
    S3OutputConfig,
    SortOrder,
    Tag,
    VpcConfig,
)
from batchrock.jobs.store import JobQuery

DEFAULT_INPUT_FORMAT = "JSONL"


def job_spec_from(params: dict[str, Any], default_timeout_hours: int) -> JobSpec:
    source = params["inputDataConfig"]["s3InputDataConfig"]
    target = params["outputDataConfig"]["s3OutputDataConfig"]
    vpc = params.get("vpcConfig")
    invocation = params.get("modelInvocationType")
    return JobSpec(
        job_name=params["jobName"],
        role_arn=params["roleArn"],
        model_id=params["modelId"],
        input_config=S3InputConfig(
            s3_uri=source["s3Uri"],
            s3_input_format=source.get("s3InputFormat", DEFAULT_INPUT_FORMAT),
            s3_bucket_owner=source.get("s3BucketOwner"),
        ),
        output_config=S3OutputConfig(
            s3_uri=target["s3Uri"],
            s3_encryption_key_id=target.get("s3EncryptionKeyId"),
            s3_bucket_owner=target.get("s3BucketOwner"),
        ),
        timeout_hours=params.get("timeoutDurationInHours", default_timeout_hours),
        invocation_type=InvocationType(invocation) if invocation else None,
        vpc_config=VpcConfig(tuple(vpc["subnetIds"]), tuple(vpc["securityGroupIds"])) if vpc else None,
        client_request_token=params.get("clientRequestToken"),
    )


def tags_from(items: list[dict[str, str]] | None) -> list[Tag]:
    return [Tag(item["key"], item["value"]) for item in items or []]


def tags_to_wire(tags: list[Tag]) -> list[dict[str, str]]:
    return [{"key": tag.key, "value": tag.value} for tag in tags]


def job_query_from(owner: Owner, params: dict[str, Any]) -> JobQuery:
    status = params.get("statusEquals")
    return JobQuery(
        owner=owner,
        limit=params.get("maxResults"),
        sort_order=SortOrder(params.get("sortOrder", SortOrder.DESCENDING.value)),
        status=JobStatus(status) if status else None,
        name_contains=params.get("nameContains"),
        submitted_after=params.get("submitTimeAfter"),
        submitted_before=params.get("submitTimeBefore"),
    )


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def job_to_wire(job: Job) -> dict[str, Any]:
    spec, counts = job.spec, job.counts
    vpc = spec.vpc_config
    invocation = spec.invocation_type or InvocationType.INVOKE_MODEL
    return _drop_none({
        "jobArn": job.arn,
        "jobName": spec.job_name,
        "modelId": spec.model_id,
        "clientRequestToken": spec.client_request_token,
        "roleArn": spec.role_arn,
        "status": job.status.value,
        "message": job.message,
        "submitTime": job.submit_time,
        "lastModifiedTime": job.last_modified_time,
        "endTime": job.end_time,
        "inputDataConfig": {"s3InputDataConfig": _drop_none({
            "s3InputFormat": spec.input_config.s3_input_format,
            "s3Uri": spec.input_config.s3_uri,
            "s3BucketOwner": spec.input_config.s3_bucket_owner,
        })},
        "outputDataConfig": {"s3OutputDataConfig": _drop_none({
            "s3Uri": spec.output_config.s3_uri,
            "s3EncryptionKeyId": spec.output_config.s3_encryption_key_id,
            "s3BucketOwner": spec.output_config.s3_bucket_owner,
        })},
        "vpcConfig": {"subnetIds": list(vpc.subnet_ids), "securityGroupIds": list(vpc.security_group_ids)} if vpc else None,
        "timeoutDurationInHours": spec.timeout_hours,
        "jobExpirationTime": job.expiration_time,
        "modelInvocationType": invocation.value,
        **{member: value for member, value in counts.by_member().items() if member in _modelled_counts()},
    })


@lru_cache(maxsize=1)
def _modelled_counts() -> frozenset[str]:
    """The count members the service model gives a job, in Get and in List alike."""
    model = awsmodel.load().model
    members = set(COUNT_MEMBERS.values())
    for shape in ("GetModelInvocationJobResponse", "ModelInvocationJobSummary"):
        members &= set(model.shape_for(shape).members)
    return frozenset(members)


def count_headers(job: Job) -> dict[str, str]:
    """The counts the model has no member for (the tokens), as headers for live progress views."""
    return {count_header(name): str(getattr(job.counts, name))
            for name, member in COUNT_MEMBERS.items() if member not in _modelled_counts()}


def count_header(name: str) -> str:
    """``input_tokens`` -> ``x-batchrock-input-tokens``."""
    return f"x-batchrock-{name.replace('_', '-')}"
