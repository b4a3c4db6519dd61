"""Moving one claimed job through its phases, with the status rules written down once.

Completion rule (also in the README):
  * every record ran and at least one succeeded            -> Completed
  * every record ran and none succeeded                    -> Failed (message says why)
  * jobExpirationTime passed with records left             -> PartiallyCompleted
  * the user stopped it                                    -> Stopped
Error records never make a job PartiallyCompleted: they are results, reported per record.
Every ending writes the outputs processed so far and ``manifest.json.out``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from batchrock.backends.base import BackendFailed, BadBackendOptions
from batchrock.backends.registry import BackendRegistry, UnknownBackend
from batchrock.catalog import Catalog, CatalogError
from batchrock.engine.lease import HeldLease, LeaseLost
from batchrock.engine.outputs import JobOutputs
from batchrock.engine.runner import Halt, InputChanged, JobRunner, RunDeps, total_counts
from batchrock.engine.validate import JobInvalid, validate_job
from batchrock.formats.base import Format
from batchrock.formats.converse import CONVERSE
from batchrock.formats.registry import format_named
from batchrock.jobs.model import FailureKind, InvocationType, Job, JobStatus, RecordCounts
from batchrock.jobs.store import FileProgress, JobStore, StatusChange
from batchrock.jobs.transitions import NOT_STARTED, RESUME, TERMINAL, can_transition
from batchrock.security.policy import AccessProblem, Policy
from batchrock.storage.base import Location, StorageError
from batchrock.storage.spec import StorageSpec

log = logging.getLogger("batchrock.engine")


class Executor(Protocol):
    """Runs a job's records: the in-process ``JobRunner`` or the ``RayCoordinator``."""

    async def run(self) -> Halt | None: ...

    def close_open_files(self) -> None: ...


def format_for(job: Job, catalog: Catalog) -> tuple[Format, str, dict[str, Any]]:
    entry = catalog.resolve(job.spec.model_id)
    if entry is None:
        raise JobInvalid(f"The model {job.spec.model_id} is not in the model catalog; run `batchrock models` to list it.")
    fmt = CONVERSE if job.spec.invocation_type is InvocationType.CONVERSE else format_named(entry.format)
    return fmt, entry.backend, entry.options


def check_access(job: Job, policy: Policy, objects: object) -> None:
    """The job's role may read its input and write its output; bucket owners and encryption as asked."""
    source, target = job.spec.input_config, job.spec.output_config
    try:
        policy.check_locations(job.owner.account_id, job.spec.role_arn, source.s3_uri, target.s3_uri)
        policy.check_owner(Location.parse(source.s3_uri).bucket, source.s3_bucket_owner)
        policy.check_owner(Location.parse(target.s3_uri).bucket, target.s3_bucket_owner)
    except AccessProblem as problem:
        raise JobInvalid(str(problem)) from None
    if target.s3_encryption_key_id and not getattr(objects, "supports_kms", False):
        raise JobInvalid("s3EncryptionKeyId needs an S3 endpoint (--s3-endpoint-url): the local directory store "
                         "cannot encrypt output with a KMS key.")


def resume_failed(store: JobStore, job_ids: list[str] | None, now: datetime) -> list[str]:
    """Resume the given jobs (None: all) whose failure the table lets resume; returns those resumed."""
    return store.resume_failed(job_ids, RESUME.failures, now)


def output_check_message(job: Job, problems: list[str]) -> str:
    hint = (f" The job kept its checkpoint: `batchrock resume {job.job_id}` assembles the output again from "
            "its committed parts.")
    return f"The output does not match the job's checkpoint: {'; '.join(problems)}"[:2048 - len(hint)] + hint


def storage_failure_message(job: Job, error: StorageError) -> str:
    hint = (f" The job kept its checkpoint: once storage is back, `batchrock resume {job.job_id}` "
            "(or restarting with `batchrock serve --resume-failed`) resumes it where it stopped.")
    return f"Storage error: {str(error)[:2048 - len(hint) - 15]}{hint}"


class JobLifecycle:
    """Every change this makes is fenced by the lease the worker claimed the job under."""

    def __init__(self, deps: RunDeps, catalog: Catalog, policy: Policy, backends: BackendRegistry,
                 storage: StorageSpec | None = None) -> None:
        self.deps = deps
        self.storage = storage  # how Ray replicas reach the job's objects
        self.catalog = catalog
        self.policy = policy
        self.backends = backends

    def _move(self, lease: HeldLease, source: JobStatus, target: JobStatus, message: str | None = None,
              failure_kind: FailureKind | None = None, counts: RecordCounts | None = None) -> bool:
        if target is not JobStatus.FAILED:
            failure_kind = None  # a stopping job that hit a failure ends Stopped: nothing to resume
        change = StatusChange(lease.job_id, source, target, self.deps.clock.now(), message=message,
                              ended=target in TERMINAL, failure_kind=failure_kind, lease=lease.lease, counts=counts)
        return self.deps.store.change_status(change)

    def validate(self, job: Job, lease: HeldLease) -> None:
        """Submitted/Validating -> Scheduled, or Failed with a message."""
        if job.status is JobStatus.SUBMITTED and not self._move(lease, JobStatus.SUBMITTED, JobStatus.VALIDATING):
            return
        try:
            check_access(job, self.policy, self.deps.objects)
            fmt, _backend, _options = format_for(job, self.catalog)
            report = validate_job(job, self.deps.objects, fmt, self.deps.config)
        except (JobInvalid, CatalogError) as error:
            self._move(lease, JobStatus.VALIDATING, JobStatus.FAILED, str(error)[:2048])
            return
        lease.ensure()
        if not self.deps.store.save_files(lease.lease, report.files, RecordCounts(total=report.total_records),
                                          self.deps.clock.now(), report.shards):
            raise LeaseLost(job.job_id)
        self._move(lease, JobStatus.VALIDATING, JobStatus.SCHEDULED)

    async def run(self, job: Job, lease: HeldLease) -> None:
        """Scheduled/InProgress/Stopping -> a terminal status, with outputs and a manifest."""
        status = self._started(job, lease)
        if status is None:
            return
        try:
            fmt, backend_name, options = format_for(job, self.catalog)
            executor = self._executor(job, lease, fmt, backend_name, options)
        except (JobInvalid, CatalogError, UnknownBackend, BadBackendOptions) as error:
            self._end_early(job, lease, status, error)
            return
        try:
            if status is JobStatus.STOPPING:  # stopped while no worker ran it
                executor.close_open_files()
                halt: Halt | None = Halt.STOP
            else:
                halt = await executor.run()
        except (StorageError, InputChanged, BackendFailed) as error:
            self._end_early(job, lease, status, error)
            return
        if halt is Halt.SHUTDOWN:
            log.info("job %s: checkpointed for shutdown; it resumes on the next start", job.job_id)
            return
        self._finish(job, lease, halt)

    def _executor(self, job: Job, lease: HeldLease, fmt: Format, backend_name: str, options: dict[str, Any]) -> Executor:
        """The job's shards on the Ray cluster (``--executor ray``), else its files streamed in-process.
        A job validated before shards existed has none and runs in-process."""
        if self.deps.config.executor == "ray":
            from batchrock.engine.ray_coordinator import RayCoordinator  # ray is an optional extra
            from batchrock.engine.ray_replica import ReplicaSpec

            self.backends.options_for(backend_name, options)  # a bad catalog entry fails here, as in-process
            if self.storage is None:
                raise JobInvalid("--executor ray needs the storage the replicas read and write (a worker built "
                                 "by Runtime passes it).")
            spec = ReplicaSpec(backend_name, dict(options), self.storage)
            coordinator = RayCoordinator(job, lease, self.deps, fmt.name, spec)
            if coordinator.load():
                return coordinator
        backend = self.backends.backend_for(backend_name, self.backends.options_for(backend_name, options))
        return JobRunner(job, self.deps.store.load_files(job.job_id), self.deps, lease, fmt, backend)

    def _started(self, job: Job, lease: HeldLease) -> JobStatus | None:
        """The status the run starts from: a Scheduled job moves to InProgress. The API may have
        stopped the job since the claim, so anything else is read again; None: nothing to run."""
        if job.status is JobStatus.SCHEDULED and self._move(lease, JobStatus.SCHEDULED, JobStatus.IN_PROGRESS):
            return JobStatus.IN_PROGRESS
        current = self.deps.store.get_job_by_id(job.job_id)
        if current is None or current.status in TERMINAL | NOT_STARTED or not lease.renew():
            return None  # it ended (stopped, expired), or another worker holds it now
        return current.status

    def _end_early(self, job: Job, lease: HeldLease, status: JobStatus, error: Exception) -> None:
        """A run that cannot go on fails, saying why (resumably, when storage failed); a stopping job
        ends Stopped instead, with the reason in its message."""
        kind = FailureKind.STORAGE if isinstance(error, StorageError) else None  # also: no output check
        if status is JobStatus.STOPPING:
            self._end(job, lease, JobStatus.STOPPED, str(error)[:2048], source=status, failure_kind=kind)
            return
        message = storage_failure_message(job, error) if isinstance(error, StorageError) else str(error)[:2048]
        self._end(job, lease, JobStatus.FAILED, message, source=status, failure_kind=kind)

    def _finish(self, job: Job, lease: HeldLease, halt: Halt | None) -> None:
        counts = total_counts(self.deps.store.load_files(job.job_id), job.counts.total)
        if halt is Halt.STOP:
            self._end(job, lease, JobStatus.STOPPED, None, source=JobStatus.STOPPING)
        elif halt is Halt.TIMEOUT:
            unprocessed = counts.total - counts.processed
            self._end(job, lease, JobStatus.PARTIALLY_COMPLETED,
                      f"The job timed out after {job.spec.timeout_hours} hours with {unprocessed} records not processed.")
        elif counts.success == 0:
            self._end(job, lease, JobStatus.FAILED, f"No record succeeded: all {counts.error} records are error records.")
        else:
            self._end(job, lease, JobStatus.COMPLETED, None)

    def _end(self, job: Job, lease: HeldLease, target: JobStatus, message: str | None,
             source: JobStatus = JobStatus.IN_PROGRESS, failure_kind: FailureKind | None = None) -> None:
        """Check the outputs, write the manifest, then the ending, all from the checkpoint in the store
        (never from this worker's memory, which a stale worker's would not match)."""
        lease.ensure()
        files = self.deps.store.load_files(job.job_id)
        counts = total_counts(files, job.counts.total)
        outputs = JobOutputs(job, self.deps.objects)
        outputs.write_manifest(counts)
        if failure_kind not in RESUME.failures:
            problems = self._check_outputs(lease, outputs, files, counts)
            if problems:
                log.error("job %s: %s", job.job_id, "; ".join(problems))
                message = output_check_message(job, problems)
                if can_transition(source, JobStatus.FAILED):  # a stopping job can only end Stopped: it says why
                    target, failure_kind = JobStatus.FAILED, FailureKind.OUTPUT_CHECK
            else:
                lease.ensure()
                outputs.remove_parts(files)  # before the ending, so a listing after it shows outputs alone
        ended = (self._move(lease, source, target, message, failure_kind, counts)
                 # stopped while finishing: a stop request wins over the natural ending
                 or self._move(lease, JobStatus.STOPPING, JobStatus.STOPPED, counts=counts))
        if not ended:
            lease.ensure()
            return
        if failure_kind not in RESUME.failures:
            outputs.sweep_parts()

    def _check_outputs(self, lease: HeldLease, outputs: JobOutputs, files: list[FileProgress],
                       counts: RecordCounts) -> list[str]:
        """The end-of-job check; files that fail it are marked to be composed again on resume."""
        problems = []
        for progress, problem in outputs.mismatched_files(files):
            problems.append(problem)
            if not self.deps.store.checkpoint(lease.lease, replace(progress, done=False), counts, self.deps.clock.now()):
                raise LeaseLost(lease.job_id)
        manifest_problem = outputs.manifest_problem(counts)
        if manifest_problem is not None:
            problems.append(manifest_problem)
        return problems
