"""One short handler per operation: wire params in, one call into the domain, a Result out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from batchrock.api import wire
from batchrock.jobs.model import Owner
from batchrock.jobs.service import JobService
from batchrock.settings import Settings

Params = dict[str, Any]


@dataclass(frozen=True)
class Result:
    """A handler's answer: the operation's output (wire dict), and response headers outside the modelled output."""

    output: Params
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    service: JobService
    settings: Settings
    owner: Owner


def create_model_invocation_job(ctx: Context, params: Params) -> Result:
    spec = wire.job_spec_from(params, ctx.settings.default_timeout_hours)
    job = ctx.service.create(ctx.owner, spec, wire.tags_from(params.get("tags")))
    return Result({"jobArn": job.arn})


def get_model_invocation_job(ctx: Context, params: Params) -> Result:
    job = ctx.service.get(ctx.owner, params["jobIdentifier"])
    return Result(wire.job_to_wire(job), wire.count_headers(job))


def list_model_invocation_jobs(ctx: Context, params: Params) -> Result:
    page = ctx.service.list_jobs(wire.job_query_from(ctx.owner, params), params.get("nextToken"))
    return Result({"nextToken": page.next_token, "invocationJobSummaries": [wire.job_to_wire(job) for job in page.jobs]})


def stop_model_invocation_job(ctx: Context, params: Params) -> Result:
    ctx.service.stop(ctx.owner, params["jobIdentifier"])
    return Result({})


def tag_resource(ctx: Context, params: Params) -> Result:
    ctx.service.tag(ctx.owner, params["resourceARN"], wire.tags_from(params["tags"]))
    return Result({})


def untag_resource(ctx: Context, params: Params) -> Result:
    ctx.service.untag(ctx.owner, params["resourceARN"], list(params["tagKeys"]))
    return Result({})


def list_tags_for_resource(ctx: Context, params: Params) -> Result:
    return Result({"tags": wire.tags_to_wire(ctx.service.tags_of(ctx.owner, params["resourceARN"]))})


HANDLERS: dict[str, Callable[[Context, Params], Result]] = {
    "CreateModelInvocationJob": create_model_invocation_job,
    "GetModelInvocationJob": get_model_invocation_job,
    "ListModelInvocationJobs": list_model_invocation_jobs,
    "StopModelInvocationJob": stop_model_invocation_job,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
