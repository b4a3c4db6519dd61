"""Named, ordered schema migrations, recorded in ``schema_migrations``; the same names on every dialect."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, select, text, update

from batchrock.jobs.timecodec import now_micros
from batchrock.store import schema

Migration = tuple[str, Callable[[Connection], None]]


def _create_jobs(conn: Connection) -> None:
    schema.jobs.create(conn)


def _create_job_tags(conn: Connection) -> None:
    schema.job_tags.create(conn)


def _create_job_files(conn: Connection) -> None:
    schema.job_files.create(conn)


def _add_jobs_failure_kind(conn: Connection) -> None:
    # 0001 creates ``jobs`` from the current table definition, so a new store has it already
    if "failure_kind" not in {column["name"] for column in inspect(conn).get_columns("jobs")}:
        conn.execute(text("ALTER TABLE jobs ADD COLUMN failure_kind VARCHAR(16)"))


def _create_service_secrets(conn: Connection) -> None:
    schema.service_secrets.create(conn)


def _fence_leases_with_epochs(conn: Connection) -> None:
    """Lease epochs, and parts as objects of their own instead of one multipart upload per file.
    Files a running job had not finished start again from their first record: their parts
    were numbered in an upload that can no longer be assembled (nothing is lost, some records
    run twice). Finished files keep their output."""
    if "lease_epoch" not in {column["name"] for column in inspect(conn).get_columns("jobs")}:
        conn.execute(text("ALTER TABLE jobs ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0"))
    files = schema.job_files.c
    conn.execute(update(schema.job_files).where(files.done == 1).values(parts="[]"))
    conn.execute(update(schema.job_files).where(files.done == 0).values(
        parts="[]", input_offset=0, records_done=0, success_records=0, error_records=0, input_tokens=0, output_tokens=0))


def _create_event_outbox(conn: Connection) -> None:
    """The outbox of job state-change events. Jobs that changed status before it get no events for
    those changes (there was nowhere to record them)."""
    schema.job_events.create(conn)
    schema.event_delivery.create(conn)
    conn.execute(schema.event_delivery.insert().values(name=schema.EVENT_DELIVERY_LEASE))


def _create_job_shards(conn: Connection) -> None:
    """Shards of input files. Jobs validated before it have none: they run file by file in-process."""
    schema.job_shards.create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    ("0001_create_jobs", _create_jobs),
    ("0002_create_job_tags", _create_job_tags),
    ("0003_create_job_files", _create_job_files),
    ("0004_add_jobs_failure_kind", _add_jobs_failure_kind),
    ("0005_create_service_secrets", _create_service_secrets),
    ("0006_fence_leases_with_epochs", _fence_leases_with_epochs),
    ("0007_create_event_outbox", _create_event_outbox),
    ("0008_create_job_shards", _create_job_shards),
)


def pending_migrations(conn: Connection) -> list[str]:
    """Names of the migrations a store has not had yet (read only)."""
    if not inspect(conn).has_table(schema.schema_migrations.name):
        return [name for name, _ in MIGRATIONS]
    done = set(conn.execute(select(schema.schema_migrations.c.name)).scalars())
    return [name for name, _ in MIGRATIONS if name not in done]


def apply_migrations(conn: Connection) -> list[str]:
    """Apply the migrations not yet recorded, in order; returns the names applied now."""
    schema.schema_migrations.create(conn, checkfirst=True)
    pending = set(pending_migrations(conn))
    applied = []
    for name, step in MIGRATIONS:
        if name not in pending:
            continue
        step(conn)
        conn.execute(schema.schema_migrations.insert().values(name=name, applied_us=now_micros()))
        applied.append(name)
    return applied
