"""The job store interface, as the domain and the engine use it; ``batchrock.store`` implements
it on SQL (SQLite, PostgreSQL), and ``batchrock.store.factory`` opens one.

Every status change follows an edge of ``jobs.transitions`` (any other raises TransitionError)
and is a compare-and-set against the status the caller last saw, and a
worker owns a job only while its lease lasts, so several processes can share one store.
Each claim gives the job a new lease epoch; every write a worker makes for a job it runs
(files, checkpoints, counts, its status) names that epoch and is refused, in the same
transaction, once another worker has claimed the job: a stale worker cannot write.

Every status change (a new job included) writes a state-change event into the store's outbox
in the same transaction, so no change is lost to a crash between the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from batchrock.jobs.model import FailureKind, Job, JobStatus, Owner, RecordCounts, SortOrder, Tag
from batchrock.jobs.shards import ShardProgress


class StoreError(Exception):
    """Base of the store's own errors; the domain turns them into service errors."""


class DuplicateJobName(StoreError):
    pass


class DuplicateClientToken(StoreError):
    pass


class TooManyTagsInStore(StoreError):
    pass


class StoreUnwritable(StoreError):
    """The store cannot take writes now (disk full, read-only or failing filesystem); reads work."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Lease:
    """A worker's hold on a job: its writes count only while the job's epoch is still this one."""

    job_id: str
    worker_id: str
    epoch: int


@dataclass(frozen=True)
class Claim:
    job: Job
    lease: Lease


@dataclass(frozen=True)
class FileProgress:
    """One input file of a job and its last checkpoint: the output part objects committed so far,
    in order, and the input byte offset and record counts they cover. ``done``: the file's
    output object has been assembled from its parts."""

    file_index: int
    input_key: str
    output_key: str
    record_count: int
    parts: tuple[str, ...] = ()
    input_offset: int = 0
    records_done: int = 0
    success: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    done: bool = False

    @property
    def counts(self) -> RecordCounts:
        """The file's share of the job's counts; its total is its record count."""
        return RecordCounts(**{name: getattr(self, share) for name, share in _SHARES.items()})

    def with_counts(self, counts: RecordCounts) -> FileProgress:
        return replace(self, **{share: getattr(counts, name) for name, share in _SHARES.items()})


# Which FileProgress field holds a file's share of each of RecordCounts' fields.
_SHARES = {"total": "record_count", "processed": "records_done", "success": "success", "error": "errors",
           "input_tokens": "input_tokens", "output_tokens": "output_tokens"}


@dataclass(frozen=True)
class ListCursor:
    """Where the previous page ended: the last job's submit time and id."""

    submit_time: datetime
    job_id: str


@dataclass(frozen=True)
class JobQuery:
    """Which jobs to list, in what order. ``limit``: at most this many (None: the service's page size,
    every match for the store); ``after``: the page continues after this job."""

    owner: Owner
    limit: int | None = None
    sort_order: SortOrder = SortOrder.DESCENDING
    status: JobStatus | None = None
    name_contains: str | None = None
    submitted_after: datetime | None = None
    submitted_before: datetime | None = None
    after: ListCursor | None = None


@dataclass(frozen=True)
class StatusChange:
    """A compare-and-set: move ``job_id`` from ``expected`` to ``target`` at ``now``."""

    job_id: str
    expected: JobStatus
    target: JobStatus
    now: datetime
    message: str | None = None
    ended: bool = False
    failure_kind: FailureKind | None = None
    lease: Lease | None = None  # a worker's change: only while it holds this lease
    counts: RecordCounts | None = None  # final counts, written exactly in the same transaction


@dataclass(frozen=True)
class StatusTotals:
    """The jobs of one model in one status, their counts added up (what ``/metrics`` reads)."""

    model_id: str
    status: JobStatus
    jobs: int
    counts: RecordCounts
    oldest_change: datetime  # the earliest last-modified time among them: when the longest waiting got here


@dataclass(frozen=True)
class PendingEvent:
    """A job state-change event in the outbox that not every URL has yet: its JSON body, written in
    the transaction of the status change, and the keys of the URLs it was delivered to."""

    seq: int  # the outbox's order: a job's events are in the order of its changes
    event_id: str
    body: bytes
    delivered_to: frozenset[str]


class EventOutbox(Protocol):
    """Every status change writes its event here, in the change's own transaction; one process at a
    time (the holder of the delivery lease) sends them on, in order."""

    def pending_events(self, limit: int, missing: str | None = None) -> list[PendingEvent]:
        """The oldest events not yet delivered to every URL, in order; with ``missing``, only those
        the URL of that key lacks."""
        ...

    def count_pending_events(self) -> int: ...

    def hold_delivery(self, holder: str, now: datetime, until: datetime) -> bool:
        """Take (or renew) the delivery lease; False while another process holds it."""
        ...

    def release_delivery(self, holder: str) -> None: ...

    def mark_delivered(self, seq: int, delivered_to: frozenset[str], done: bool, now: datetime) -> None:
        """Record the URLs an event reached; ``done``: every URL has it."""
        ...

    def prune_events(self, now: datetime, keep_delivered: timedelta, keep_undelivered: timedelta) -> int:
        """Delete delivered events older than ``keep_delivered`` and any older than ``keep_undelivered``;
        returns how many of those were never delivered everywhere."""
        ...


class JobStore(Protocol):
    write_problem: str | None  # why the last write failed, while the store cannot be written
    outbox: EventOutbox

    def add_job(self, job: Job, tags: Iterable[Tag]) -> None: ...

    def get_job(self, owner: Owner, job_id: str) -> Job | None: ...

    def get_job_by_id(self, job_id: str) -> Job | None: ...

    def find_by_client_token(self, owner: Owner, token: str) -> Job | None: ...

    def list_jobs(self, query: JobQuery) -> list[Job]: ...

    def change_status(self, change: StatusChange) -> bool:
        """False when the job is no longer in ``change.expected`` (or the lease no longer holds)."""
        ...

    def publish_counts(self, lease: Lease, counts: RecordCounts, now: datetime) -> bool: ...

    def list_tags(self, job_id: str) -> list[Tag]: ...

    def put_tags(self, job_id: str, tags: Iterable[Tag], limit: int) -> None: ...

    def remove_tags(self, job_id: str, keys: Iterable[str]) -> None: ...

    def claim_next(self, statuses: Iterable[JobStatus], worker_id: str, now: datetime, lease_until: datetime,
                   running_here: Iterable[str] = ()) -> Claim | None: ...

    def renew_lease(self, lease: Lease, lease_until: datetime) -> bool: ...

    def release_lease(self, lease: Lease) -> None: ...

    def save_files(self, lease: Lease, files: Iterable[FileProgress], counts: RecordCounts, now: datetime,
                   shards: Iterable[ShardProgress] = ()) -> bool:
        """The validated plan (files and their shards) and counts, replacing any earlier one."""
        ...

    def load_shards(self, job_id: str) -> list[ShardProgress]:
        """The job's shards, by file and position."""
        ...

    def save_shard(self, lease: Lease, shard: ShardProgress, counts: RecordCounts | None, now: datetime) -> bool:
        """A shard's state, runner, output and counts; with ``counts``, the job's live counts grow to
        them in the same transaction. False once another claim raised the epoch."""
        ...

    def requeue_running_shards(self, lease: Lease) -> bool:
        """Shards a previous claim left running go back to pending (their runner is gone)."""
        ...

    def load_files(self, job_id: str) -> list[FileProgress]: ...

    def checkpoint(self, lease: Lease, progress: FileProgress, counts: RecordCounts, now: datetime) -> bool: ...

    def expire_unstarted(self, now: datetime, message: str) -> int:
        """Jobs in ``transitions.EXPIRABLE`` past their expiration time (and held by no worker) expire."""
        ...

    def resume_failed(self, job_ids: Iterable[str] | None, kinds: Iterable[FailureKind], now: datetime) -> list[str]:
        """Failed jobs (None: all) whose failure is one of ``kinds`` take ``transitions.RESUME``;
        a kind the table does not let out raises TransitionError. Returns the ids resumed."""
        ...

    def job_totals(self) -> list[StatusTotals]:
        """Jobs and their counts by model and status, over every job in the store."""
        ...

    def shared_secret(self, name: str, size: int = 32) -> bytes:
        """The store's secret called ``name``, made on first use: the same for every server on the store."""
        ...

    def close(self) -> None: ...
