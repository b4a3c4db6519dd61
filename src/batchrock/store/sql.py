"""The job store on SQL: SQLite by default, PostgreSQL by URL. SQLAlchemy Core, no ORM."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, create_engine, delete, event, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from batchrock.jobs.model import FailureKind, Job, JobStatus, Owner, RecordCounts, SortOrder, Tag
from batchrock.jobs.shards import ShardProgress, ShardState
from batchrock.jobs.store import (
    Claim,
    DuplicateClientToken,
    DuplicateJobName,
    EventOutbox,
    FileProgress,
    JobQuery,
    Lease,
    StatusChange,
    StatusTotals,
    StoreUnwritable,
    TooManyTagsInStore,
)
from batchrock.jobs.timecodec import from_micros, to_micros
from batchrock.jobs.transitions import EXPIRABLE, RESUME, check_resume, check_transition
from batchrock.observability.instruments import STORE_WRITE_FAILURES
from batchrock.store.dbfaults import unwritable_reason
from batchrock.store.migrations import apply_migrations, pending_migrations
from batchrock.store.outbox import SqlOutbox, record_changes
from batchrock.store.rows import counts_to_row, file_progress, file_row, job_to_row, row_to_job
from batchrock.store.schema import JOB_COUNT_COLUMNS, job_files, job_shards, job_tags, jobs, service_secrets
from batchrock.store.shard_rows import shard_progress, shard_row

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a job the API accepted, and every checkpoint, survives a power cut or a dying disk
    # (NORMAL would only keep the file consistent, possibly losing the last commits)
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA case_sensitive_like=ON",
)


SQLITE_FILE = "batchrock.db"


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / SQLITE_FILE}"


def _prepare_sqlite(engine: Engine, *, transactions: bool) -> None:
    """Own SQLite's transactions so a writer can take the write lock up front (BEGIN IMMEDIATE).

    The read engine issues no BEGIN at all: each read is one statement, which SQLite runs on
    one consistent snapshot by itself.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if transactions:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writer") else "BEGIN")


# Built once: SQLAlchemy caches their compiled form, which keeps single-job reads cheap.
_OWNED = and_(jobs.c.account_id == bindparam("account_id"), jobs.c.region == bindparam("region"))
_JOB_BY_OWNER = select(jobs).where(jobs.c.job_id == bindparam("job_id"), _OWNED)
_JOB_BY_ID = select(jobs).where(jobs.c.job_id == bindparam("job_id"))
_JOB_BY_TOKEN = select(jobs).where(jobs.c.client_request_token == bindparam("token"), _OWNED)


class SqlJobStore:
    """The ``JobStore`` of ``batchrock.jobs.store`` on SQL."""

    def __init__(self, url: str, read_only: bool = False) -> None:
        self.write_problem: str | None = None
        self.engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        self.read_engine = self.engine
        self._compiled_cache: dict[int, tuple[str, list[str] | None]] = {}
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.outbox: EventOutbox = SqlOutbox(self._writing, self._reading)
        if self.is_sqlite:
            _prepare_sqlite(self.engine, transactions=True)
            self.read_engine = create_engine(url)
            _prepare_sqlite(self.read_engine, transactions=False)
        if read_only:
            self._check_migrated()
            self.write_problem = "the data dir is read-only"
        else:
            with self._writing() as conn:
                apply_migrations(conn)

    def _check_migrated(self) -> None:
        with self._reading() as conn:
            missing = pending_migrations(conn)
        if missing:
            raise StoreUnwritable(f"the job store needs migrations {', '.join(missing)} but cannot be written")

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(writer=True)
                with conn.begin():
                    yield conn
        except DBAPIError as error:
            reason = unwritable_reason(error)
            if reason is None:
                raise
            self.write_problem = reason
            STORE_WRITE_FAILURES.inc()
            raise StoreUnwritable(reason) from None
        self.write_problem = None

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self.read_engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.read_engine.dispose()
        self.engine.dispose()

    def add_job(self, job: Job, tags: Iterable[Tag]) -> None:
        try:
            with self._writing() as conn:
                conn.execute(jobs.insert().values(job_to_row(job)))
                rows = [{"job_id": job.job_id, "tag_key": t.key, "tag_value": t.value} for t in tags]
                if rows:
                    conn.execute(job_tags.insert(), rows)
                record_changes(conn, [job], job.submit_time)
        except IntegrityError as error:
            if "token" in str(error.orig):
                raise DuplicateClientToken(job.spec.client_request_token or "") from error
            raise DuplicateJobName(job.spec.job_name) from error

    def get_job(self, owner: Owner, job_id: str) -> Job | None:
        return self._one(_JOB_BY_OWNER, job_id=job_id, account_id=owner.account_id, region=owner.region)

    def get_job_by_id(self, job_id: str) -> Job | None:
        return self._one(_JOB_BY_ID, job_id=job_id)

    def find_by_client_token(self, owner: Owner, token: str) -> Job | None:
        return self._one(_JOB_BY_TOKEN, token=token, account_id=owner.account_id, region=owner.region)

    def _one(self, statement: Any, **params: str) -> Job | None:
        """Hot path of Get: the Core statement, compiled once per dialect, run on a pooled DBAPI connection."""
        sql, order = self._compiled(statement)
        connection = self.read_engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, tuple(params[name] for name in order) if order is not None else params)
            row = cursor.fetchone()
            names = [column[0] for column in cursor.description]
            cursor.close()
        finally:
            connection.close()
        return None if row is None else row_to_job(dict(zip(names, row, strict=True)))

    def _compiled(self, statement: Any) -> tuple[str, list[str] | None]:
        cached = self._compiled_cache.get(id(statement))
        if cached is None:
            compiled = statement.compile(dialect=self.read_engine.dialect)
            order = list(compiled.positiontup) if compiled.positional else None
            cached = self._compiled_cache[id(statement)] = (str(compiled), order)
        return cached

    @staticmethod
    def _owned_by(owner: Owner) -> tuple[Any, Any]:
        return jobs.c.account_id == owner.account_id, jobs.c.region == owner.region

    def list_jobs(self, query: JobQuery) -> list[Job]:
        statement = select(jobs).where(*self._filters(query))
        if query.sort_order is SortOrder.ASCENDING:
            statement = statement.order_by(jobs.c.submit_us.asc(), jobs.c.job_id.asc())
        else:
            statement = statement.order_by(jobs.c.submit_us.desc(), jobs.c.job_id.desc())
        if query.limit is not None:
            statement = statement.limit(query.limit)
        with self._reading() as conn:
            rows = conn.execute(statement).mappings().all()
        return [row_to_job(row) for row in rows]

    def _filters(self, query: JobQuery) -> list[Any]:
        filters: list[Any] = list(self._owned_by(query.owner))
        if query.status is not None:
            filters.append(jobs.c.status == query.status.value)
        if query.name_contains:
            filters.append(jobs.c.job_name.contains(query.name_contains, autoescape=True))
        if query.submitted_after is not None:
            filters.append(jobs.c.submit_us > to_micros(query.submitted_after))
        if query.submitted_before is not None:
            filters.append(jobs.c.submit_us < to_micros(query.submitted_before))
        if query.after is not None:
            filters.append(self._after_cursor(query))
        return filters

    @staticmethod
    def _after_cursor(query: JobQuery) -> Any:
        assert query.after is not None
        moment, job_id = to_micros(query.after.submit_time), query.after.job_id
        if query.sort_order is SortOrder.ASCENDING:
            return or_(jobs.c.submit_us > moment, and_(jobs.c.submit_us == moment, jobs.c.job_id > job_id))
        return or_(jobs.c.submit_us < moment, and_(jobs.c.submit_us == moment, jobs.c.job_id < job_id))

    def change_status(self, change: StatusChange) -> bool:
        check_transition(change.expected, change.target)
        values: dict[str, Any] = {"status": change.target.value, "last_modified_us": to_micros(change.now)}
        if change.message is not None:
            values["message"] = change.message
        if change.ended:
            values["end_us"] = to_micros(change.now)
        if change.failure_kind is not None:
            values["failure_kind"] = change.failure_kind.value
        if change.counts is not None:
            values.update(counts_to_row(change.counts))
        conditions = [jobs.c.job_id == change.job_id, jobs.c.status == change.expected.value]
        if change.lease is not None:
            conditions.append(_held(change.lease))
        with self._writing() as conn:
            row = conn.execute(update(jobs).where(*conditions).values(values).returning(*jobs.c)).mappings().first()
            if row is None:
                return False
            record_changes(conn, [row_to_job(row)], change.now)
        return True

    def publish_counts(self, lease: Lease, counts: RecordCounts, now: datetime) -> bool:
        """Live counts for Get/List; they only grow, so a worker resuming from an older checkpoint
        does not show fewer records done than its predecessor did."""
        values = {**_growing(counts), "last_modified_us": to_micros(now)}
        with self._writing() as conn:
            return conn.execute(update(jobs).where(_held(lease)).values(values)).rowcount == 1

    def list_tags(self, job_id: str) -> list[Tag]:
        statement = select(job_tags.c.tag_key, job_tags.c.tag_value).where(job_tags.c.job_id == job_id)
        with self._reading() as conn:
            rows = conn.execute(statement.order_by(job_tags.c.tag_key)).all()
        return [Tag(key, value) for key, value in rows]

    def put_tags(self, job_id: str, tags: Iterable[Tag], limit: int) -> None:
        latest = {tag.key: tag.value for tag in tags}
        with self._writing() as conn:
            existing = set(conn.execute(select(job_tags.c.tag_key).where(job_tags.c.job_id == job_id)).scalars())
            if len(existing | set(latest)) > limit:
                raise TooManyTagsInStore(job_id)
            if latest:
                conn.execute(delete(job_tags).where(job_tags.c.job_id == job_id, job_tags.c.tag_key.in_(latest)))
                rows = [{"job_id": job_id, "tag_key": k, "tag_value": v} for k, v in latest.items()]
                conn.execute(job_tags.insert(), rows)

    def remove_tags(self, job_id: str, keys: Iterable[str]) -> None:
        with self._writing() as conn:
            conn.execute(delete(job_tags).where(job_tags.c.job_id == job_id, job_tags.c.tag_key.in_(list(keys))))

    def claim_next(
        self, statuses: Iterable[JobStatus], worker_id: str, now: datetime, lease_until: datetime,
        running_here: Iterable[str] = (),
    ) -> Claim | None:
        """Lease the oldest unleased (or lapsed) job in one of ``statuses`` under a new epoch: one atomic
        statement. ``running_here``: jobs the worker still runs, never claimed again by it."""
        now_us = to_micros(now)
        free = or_(jobs.c.lease_owner.is_(None), jobs.c.lease_expires_us < now_us)
        conditions = [jobs.c.status.in_([status.value for status in statuses]), free]
        if running_here:
            conditions.append(jobs.c.job_id.not_in(list(running_here)))
        candidate = (
            select(jobs.c.job_id)
            .where(*conditions)
            .order_by(jobs.c.submit_us, jobs.c.job_id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        statement = (
            update(jobs)
            .where(jobs.c.job_id == candidate, free)
            .values(lease_owner=worker_id, lease_expires_us=to_micros(lease_until), lease_epoch=jobs.c.lease_epoch + 1)
            .returning(*jobs.c)
        )
        with self._writing() as conn:
            row = conn.execute(statement).mappings().first()
        if row is None:
            return None
        return Claim(row_to_job(row), Lease(row["job_id"], worker_id, int(row["lease_epoch"])))

    def renew_lease(self, lease: Lease, lease_until: datetime) -> bool:
        statement = update(jobs).where(_held(lease)).values(lease_expires_us=to_micros(lease_until))
        with self._writing() as conn:
            return conn.execute(statement).rowcount == 1

    def release_lease(self, lease: Lease) -> None:
        statement = update(jobs).where(_held(lease)).values(lease_owner=None, lease_expires_us=None)
        with self._writing() as conn:
            conn.execute(statement)

    def save_files(self, lease: Lease, files: Iterable[FileProgress], counts: RecordCounts, now: datetime,
                   shards: Iterable[ShardProgress] = ()) -> bool:
        """A validated job's files, shards and counts, replacing any earlier plan, while ``lease`` holds."""
        rows = [file_row(lease.job_id, progress) for progress in files]
        shard_rows = [shard_row(lease.job_id, shard) for shard in shards]
        values = {**counts_to_row(counts), "last_modified_us": to_micros(now)}
        with self._writing() as conn:
            if conn.execute(update(jobs).where(_held(lease)).values(values)).rowcount != 1:
                return False
            conn.execute(delete(job_files).where(job_files.c.job_id == lease.job_id))
            conn.execute(delete(job_shards).where(job_shards.c.job_id == lease.job_id))
            if rows:
                conn.execute(job_files.insert(), rows)
            if shard_rows:
                conn.execute(job_shards.insert(), shard_rows)
        return True

    def load_shards(self, job_id: str) -> list[ShardProgress]:
        statement = (select(job_shards).where(job_shards.c.job_id == job_id)
                     .order_by(job_shards.c.file_index, job_shards.c.shard_index))
        with self._reading() as conn:
            return [shard_progress(row) for row in conn.execute(statement).mappings()]

    def save_shard(self, lease: Lease, shard: ShardProgress, counts: RecordCounts | None, now: datetime) -> bool:
        """One shard's state, fenced by ``lease``; with ``counts``, the job's live counts grow to them."""
        values = {**(_growing(counts) if counts is not None else {}), "last_modified_us": to_micros(now)}
        with self._writing() as conn:
            if conn.execute(update(jobs).where(_held(lease)).values(values)).rowcount != 1:
                return False
            conn.execute(update(job_shards)
                         .where(job_shards.c.job_id == lease.job_id, job_shards.c.file_index == shard.file_index,
                                job_shards.c.shard_index == shard.shard_index)
                         .values(shard_row(lease.job_id, shard)))
        return True

    def requeue_running_shards(self, lease: Lease) -> bool:
        with self._writing() as conn:
            if conn.execute(update(jobs).where(_held(lease)).values(lease_epoch=jobs.c.lease_epoch)).rowcount != 1:
                return False
            conn.execute(update(job_shards)
                         .where(job_shards.c.job_id == lease.job_id, job_shards.c.state == ShardState.RUNNING.value)
                         .values(state=ShardState.PENDING.value, runner=None))
        return True

    def load_files(self, job_id: str) -> list[FileProgress]:
        statement = select(job_files).where(job_files.c.job_id == job_id).order_by(job_files.c.file_index)
        with self._reading() as conn:
            rows = conn.execute(statement).mappings().all()
        return [file_progress(row) for row in rows]

    def checkpoint(self, lease: Lease, progress: FileProgress, counts: RecordCounts, now: datetime) -> bool:
        """Record a file's progress and the job's counts together, only while ``lease`` holds."""
        values = {**_growing(counts), "last_modified_us": to_micros(now)}
        with self._writing() as conn:
            if conn.execute(update(jobs).where(_held(lease)).values(values)).rowcount != 1:
                return False
            conn.execute(
                update(job_files)
                .where(job_files.c.job_id == lease.job_id, job_files.c.file_index == progress.file_index)
                .values(file_row(lease.job_id, progress))
            )
        return True

    def expire_unstarted(self, now: datetime, message: str) -> int:
        """Jobs that can still expire (``EXPIRABLE``) past their expiration time become Expired,
        unless a worker holds them."""
        now_us = to_micros(now)
        statement = (
            update(jobs)
            .where(
                jobs.c.status.in_([status.value for status in EXPIRABLE]),
                jobs.c.expiration_us <= now_us,
                or_(jobs.c.lease_owner.is_(None), jobs.c.lease_expires_us < now_us),
            )
            .values(status=JobStatus.EXPIRED.value, message=message, end_us=now_us, last_modified_us=now_us,
                    lease_owner=None, lease_expires_us=None)
            .returning(*jobs.c)
        )
        with self._writing() as conn:
            expired = [row_to_job(row) for row in conn.execute(statement).mappings()]
            record_changes(conn, expired, now)
        return len(expired)

    def shared_secret(self, name: str, size: int = 32) -> bytes:
        """The store's secret called ``name``, made on first use; the same for every server on it."""
        select_secret = select(service_secrets.c.value).where(service_secrets.c.name == name)
        with self._reading() as conn:
            found = conn.execute(select_secret).scalar()
        if found is not None:
            return bytes(found)
        try:
            with self._writing() as conn:
                conn.execute(service_secrets.insert().values(name=name, value=os.urandom(size)))
        except IntegrityError:
            pass  # another server made it first
        with self._reading() as conn:
            return bytes(conn.execute(select_secret).scalar_one())

    def resume_failed(self, job_ids: Iterable[str] | None, kinds: Iterable[FailureKind], now: datetime) -> list[str]:
        """Jobs whose failure is one of ``kinds`` take the table's resume edge, to continue from
        their last checkpoint; their ending (message, end time, failure kind) is cleared."""
        kinds = list(kinds)
        for kind in kinds:
            check_resume(kind)
        conditions = [jobs.c.status == RESUME.source.value, jobs.c.failure_kind.in_([kind.value for kind in kinds])]
        if job_ids is not None:
            conditions.append(jobs.c.job_id.in_(list(job_ids)))
        statement = (
            update(jobs)
            .where(*conditions)
            .values(status=RESUME.target.value, message=None, end_us=None, failure_kind=None,
                    last_modified_us=to_micros(now), lease_owner=None, lease_expires_us=None)
            .returning(*jobs.c)
        )
        with self._writing() as conn:
            resumed = [row_to_job(row) for row in conn.execute(statement).mappings()]
            record_changes(conn, resumed, now)
        return sorted(job.job_id for job in resumed)

    def job_totals(self) -> list[StatusTotals]:
        count_sums = [func.sum(jobs.c[column]) for column in JOB_COUNT_COLUMNS.values()]
        statement = (select(jobs.c.model_id, jobs.c.status, func.count(), func.min(jobs.c.last_modified_us), *count_sums)
                     .group_by(jobs.c.model_id, jobs.c.status))
        with self._reading() as conn:
            rows = conn.execute(statement).all()
        return [StatusTotals(model_id, JobStatus(status), int(count), RecordCounts(*(int(value or 0) for value in sums)),
                             from_micros(int(oldest))) for model_id, status, count, oldest, *sums in rows]


def _held(lease: Lease) -> Any:
    """The fence: the job is still held under this claim (a later claim raised the epoch)."""
    return and_(jobs.c.job_id == lease.job_id, jobs.c.lease_owner == lease.worker_id,
                jobs.c.lease_epoch == lease.epoch)


def _growing(counts: RecordCounts) -> dict[str, Any]:
    """Set each count column to the larger of its value and the new one."""
    return {name: case((jobs.c[name] < value, value), else_=jobs.c[name])
            for name, value in counts_to_row(counts).items()}
