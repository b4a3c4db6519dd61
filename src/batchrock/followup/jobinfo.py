"""The job a follow-up command works on, as GetModelInvocationJob reports it, and the storage it used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchrock.followup.errors import FollowupError
from batchrock.jobs.model import JobStatus
from batchrock.jobs.transitions import TERMINAL
from batchrock.runtime import object_store_for
from batchrock.settings import Settings
from batchrock.storage.base import ObjectStore

# A command waits out a short storage hiccup, not the engine's two-minute outage.
OUTAGE_SECONDS = 10.0


@dataclass(frozen=True)
class JobInfo:
    arn: str
    job_id: str
    name: str
    status: JobStatus
    model_id: str
    input_uri: str
    output_uri: str
    described: dict[str, Any]  # the whole Get answer: what a retry copies from it

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL


def describe_job(client: Any, reference: str) -> JobInfo:
    """``reference``: a job ARN or id; botocore's ClientError says when there is no such job."""
    job = client.get_model_invocation_job(jobIdentifier=reference)
    return JobInfo(arn=job["jobArn"], job_id=job["jobArn"].rsplit("/", 1)[1], name=job["jobName"],
                   status=JobStatus(job["status"]), model_id=job["modelId"],
                   input_uri=job["inputDataConfig"]["s3InputDataConfig"]["s3Uri"],
                   output_uri=job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"], described=dict(job))


def object_store(s3_endpoint_url: str | None, data_dir: Path) -> ObjectStore:
    """The server's storage as ``batchrock serve`` opens it: an S3 endpoint, else the data dir's local buckets."""
    if not s3_endpoint_url and not data_dir.is_dir():
        raise FollowupError(f"no data dir at {data_dir}: pass the server's --data-dir, or --s3-endpoint-url")
    settings = Settings(data_dir=data_dir, s3_endpoint_url=s3_endpoint_url, storage_outage_seconds=OUTAGE_SECONDS,
                        keep_free_bytes=0)
    return object_store_for(settings)
