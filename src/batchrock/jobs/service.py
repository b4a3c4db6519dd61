"""JobService: the rules of the model invocation job API, independent of HTTP and SQL."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import timedelta

import orjson

from batchrock.errors import AccessDenied, Conflict, ResourceNotFound, TooManyTags, ValidationError, WritesUnavailable
from batchrock.jobs.clock import Clock
from batchrock.jobs.ids import new_job_id, parse_job_reference
from batchrock.jobs.model import Job, JobSpec, JobStatus, Owner, Tag
from batchrock.jobs.pagination import TokenSigner
from batchrock.jobs.store import (
    DuplicateClientToken,
    DuplicateJobName,
    JobQuery,
    JobStore,
    ListCursor,
    StatusChange,
    StoreUnwritable,
    TooManyTagsInStore,
)
from batchrock.jobs.transitions import NOT_STARTED, STOPPABLE, TERMINAL
from batchrock.security.policy import AccessProblem, Policy

log = logging.getLogger("batchrock.jobs")

_RESERVED_TAG_PREFIX = "aws:"


@contextmanager
def _store_writes() -> Iterator[None]:
    """A store that cannot take writes now is the service's fault, not the client's: a 500 saying why."""
    try:
        yield
    except StoreUnwritable as problem:
        log.error("the job store cannot be written: %s", problem.reason)
        raise WritesUnavailable(problem.reason) from None


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_token: str | None


def fingerprint(spec: JobSpec, tags: list[Tag]) -> str:
    """What makes two Create requests 'the same' for idempotency: everything but the token."""
    material = {"spec": asdict(replace(spec, client_request_token=None)), "tags": sorted(map(asdict, tags), key=str)}
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


class JobService:
    def __init__(self, store: JobStore, clock: Clock, signer: TokenSigner, policy: Policy, *,
                 default_page_size: int, max_tags: int):
        self.policy = policy
        self.store = store
        self.clock = clock
        self.signer = signer
        self.default_page_size = default_page_size
        self.on_new_job: list[Callable[[], None]] = []  # e.g. a worker in this process, to start it at once
        self.max_tags = max_tags

    def create(self, owner: Owner, spec: JobSpec, tags: list[Tag]) -> Job:
        try:
            self.policy.check_role(owner.account_id, spec.role_arn)
        except AccessProblem as problem:
            raise AccessDenied(str(problem)) from None
        self._check_new_tags(tags)
        if len(tags) > self.max_tags:
            raise TooManyTags(f"A job can have at most {self.max_tags} tags.", spec.job_name)
        digest = fingerprint(spec, tags)
        if spec.client_request_token:
            earlier = self._idempotent_replay(owner, spec.client_request_token, digest)
            if earlier is not None:
                return earlier
        now = self.clock.now()
        job = Job(
            job_id=new_job_id(),
            owner=owner,
            spec=spec,
            status=JobStatus.SUBMITTED,
            submit_time=now,
            last_modified_time=now,
            expiration_time=now + timedelta(hours=spec.timeout_hours),
            request_fingerprint=digest,
        )
        try:
            with _store_writes():
                self.store.add_job(job, tags)
        except DuplicateClientToken:
            replay = self._idempotent_replay(owner, spec.client_request_token or "", digest)
            assert replay is not None
            return replay
        except DuplicateJobName:
            raise Conflict(f"A model invocation job named {spec.job_name} already exists.") from None
        for listener in self.on_new_job:
            listener()
        return job

    def _idempotent_replay(self, owner: Owner, token: str, digest: str) -> Job | None:
        earlier = self.store.find_by_client_token(owner, token)
        if earlier is None:
            return None
        if earlier.request_fingerprint != digest:
            raise Conflict(
                f"The clientRequestToken {token} was already used for job {earlier.arn} with different parameters."
            )
        return earlier

    def get(self, owner: Owner, reference: str) -> Job:
        parsed = parse_job_reference(reference)
        if parsed is None:
            raise ValidationError(f"{reference} is not a model invocation job ARN or id.")
        named_owner, job_id = parsed
        job = None if named_owner not in (None, owner) else self.store.get_job(owner, job_id)
        if job is None:
            raise ResourceNotFound(f"Could not find model invocation job {reference}.")
        return self._as_seen(job)

    def _as_seen(self, job: Job) -> Job:
        """While the store cannot be written, an unfinished job says so: its status cannot move."""
        problem = self.store.write_problem
        if problem is None or job.status in TERMINAL:
            return job
        return replace(job, message=f"The job store cannot be written ({problem}): this job is held at its last "
                                    "checkpoint and continues once the store accepts writes again.")

    def list_jobs(self, query: JobQuery, next_token: str | None = None) -> JobPage:
        """One page of ``query`` (``query.limit`` jobs at most, or the default page size)."""
        limit = query.limit or self.default_page_size
        query = replace(query, limit=limit + 1, after=self.signer.read(next_token, query) if next_token else None)
        found = self.store.list_jobs(query)
        if self.store.write_problem is not None:
            found = [self._as_seen(job) for job in found]
        if len(found) <= limit:
            return JobPage(found, None)
        page = found[:limit]
        last = page[-1]
        return JobPage(page, self.signer.issue(query, ListCursor(last.submit_time, last.job_id)))

    def stop(self, owner: Owner, reference: str) -> None:
        job = self.get(owner, reference)
        while job.status in STOPPABLE:
            if self._try_stop(job):
                return
            job = self.get(owner, reference)
        if job.status in TERMINAL:
            raise Conflict(f"The job {job.arn} has already ended with status {job.status.value}; it cannot be stopped.")

    def _try_stop(self, job: Job) -> bool:
        now = self.clock.now()
        with _store_writes():
            if not self.store.change_status(StatusChange(job.job_id, job.status, JobStatus.STOPPING, now)):
                return False
            if job.status in NOT_STARTED:  # no worker has outputs to close: stopped on the spot
                self.store.change_status(StatusChange(job.job_id, JobStatus.STOPPING, JobStatus.STOPPED, now, ended=True))
        return True

    def tags_of(self, owner: Owner, resource_arn: str) -> list[Tag]:
        return self.store.list_tags(self._tagged_job(owner, resource_arn).job_id)

    def tag(self, owner: Owner, resource_arn: str, tags: list[Tag]) -> None:
        job = self._tagged_job(owner, resource_arn)
        self._check_new_tags(tags)
        try:
            with _store_writes():
                self.store.put_tags(job.job_id, tags, self.max_tags)
        except TooManyTagsInStore:
            raise TooManyTags(f"A resource can have at most {self.max_tags} tags.", resource_arn) from None

    def untag(self, owner: Owner, resource_arn: str, keys: list[str]) -> None:
        job = self._tagged_job(owner, resource_arn)
        self._check_tag_keys(keys)
        with _store_writes():
            self.store.remove_tags(job.job_id, keys)

    def _tagged_job(self, owner: Owner, resource_arn: str) -> Job:
        parsed = parse_job_reference(resource_arn)
        if parsed is None or parsed[0] is None:
            raise ResourceNotFound(f"Could not find resource {resource_arn}.")
        try:
            return self.get(owner, resource_arn)
        except ResourceNotFound:
            raise ResourceNotFound(f"Could not find resource {resource_arn}.") from None

    @classmethod
    def _check_new_tags(cls, tags: list[Tag]) -> None:
        keys = [tag.key for tag in tags]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValidationError(f"Each tag key may appear once in a request; repeated: {', '.join(repeated)}")
        cls._check_tag_keys(keys)

    @staticmethod
    def _check_tag_keys(keys: list[str]) -> None:
        reserved = [key for key in keys if key.lower().startswith(_RESERVED_TAG_PREFIX)]
        if reserved:
            raise ValidationError(f"Tag keys starting with '{_RESERVED_TAG_PREFIX}' are reserved: {', '.join(reserved)}")
