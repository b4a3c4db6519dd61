"""Tables of the job store, in SQLAlchemy Core. Times are integer microseconds since the epoch (UTC)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint

from batchrock.jobs.model import COUNT_NAMES

# The column of each of a job's counts (RecordCounts' fields): ``processed`` -> ``processed_records``,
# tokens by their own name; in ``job_files``, a file's share, with the file's record count as its total.
JOB_COUNT_COLUMNS = {name: name if name.endswith("_tokens") else f"{name}_records" for name in COUNT_NAMES}
FILE_COUNT_COLUMNS = {**JOB_COUNT_COLUMNS, "total": "record_count", "processed": "records_done"}


def _count_columns(names: Iterable[str]) -> list[Column[int]]:
    return [Column(name, BigInteger, nullable=False, default=0) for name in names]


metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("applied_us", BigInteger, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(12), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("job_name", String(63), nullable=False),
    Column("role_arn", Text, nullable=False),
    Column("model_id", Text, nullable=False),
    Column("client_request_token", String(256)),
    Column("request_fingerprint", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("message", Text),
    # why a Failed job failed, when an operator may resume it ("storage"); NULL otherwise
    Column("failure_kind", String(16)),
    Column("submit_us", BigInteger, nullable=False),
    Column("last_modified_us", BigInteger, nullable=False),
    Column("end_us", BigInteger),
    Column("expiration_us", BigInteger, nullable=False),
    Column("timeout_hours", Integer, nullable=False),
    Column("invocation_type", String(32)),
    Column("input_config", Text, nullable=False),
    Column("output_config", Text, nullable=False),
    Column("vpc_config", Text),
    *_count_columns(JOB_COUNT_COLUMNS.values()),
    Column("lease_owner", String(128)),
    Column("lease_expires_us", BigInteger),
    # raised by every claim; a worker's writes name the epoch they were claimed under (fencing)
    Column("lease_epoch", BigInteger, nullable=False, default=0, server_default="0"),
    UniqueConstraint("account_id", "region", "job_name", name="uq_jobs_owner_name"),
    UniqueConstraint("account_id", "region", "client_request_token", name="uq_jobs_owner_token"),
    Index("ix_jobs_owner_submit", "account_id", "region", "submit_us", "job_id"),
    Index("ix_jobs_status_submit", "status", "submit_us"),
)

job_tags = Table(
    "job_tags",
    metadata,
    Column("job_id", String(12), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), nullable=False),
)

# One row per input file of a job: where its output goes and the last checkpoint.
job_files = Table(
    "job_files",
    metadata,
    Column("job_id", String(12), primary_key=True),
    Column("file_index", Integer, primary_key=True),
    Column("input_key", Text, nullable=False),
    Column("output_key", Text, nullable=False),
    Column(FILE_COUNT_COLUMNS["total"], BigInteger, nullable=False),
    # JSON list of the keys of the committed part objects, in output order
    Column("parts", Text, nullable=False, default="[]"),
    Column("input_offset", BigInteger, nullable=False, default=0),
    *_count_columns(column for name, column in FILE_COUNT_COLUMNS.items() if name != "total"),
    Column("done", Integer, nullable=False, default=0),
)

# One row per shard of a job's input file (``jobs.shards``): its byte range, where it stands,
# and, once done, its output object and counts (a shard's share, its record count as its total).
job_shards = Table(
    "job_shards",
    metadata,
    Column("job_id", String(12), primary_key=True),
    Column("file_index", Integer, primary_key=True),
    Column("shard_index", Integer, primary_key=True),
    Column("start_offset", BigInteger, nullable=False),
    Column("end_offset", BigInteger, nullable=False),
    Column("first_record", BigInteger, nullable=False),
    Column(FILE_COUNT_COLUMNS["total"], BigInteger, nullable=False),
    *_count_columns(column for name, column in FILE_COUNT_COLUMNS.items() if name != "total"),
    Column("state", String(16), nullable=False),
    Column("runner", String(128)),
    Column("output_key", Text),
    Column("epoch", BigInteger, nullable=False, default=0),
)

# Secrets every server on this store shares (the key that signs pagination tokens), so a
# nextToken from one API server is good at the others.
service_secrets = Table(
    "service_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

# The outbox of job state-change events: each is written in the transaction of its status change
# and sent on to the --events-url receivers by the holder of the delivery lease, in ``seq`` order.
job_events = Table(
    "job_events",
    metadata,
    # INTEGER on SQLite: only an INTEGER PRIMARY KEY is the rowid, which numbers rows by itself
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("job_id", String(12), nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("delivered_to", Text, nullable=False, default="[]"),  # JSON list of the keys of the URLs that have it
    Column("done_us", BigInteger),  # when every URL had it; NULL while it is pending
    Index("ix_job_events_done_seq", "done_us", "seq"),
)

# One row: which process delivers the outbox now, and until when (a lease, as a worker's on a job).
event_delivery = Table(
    "event_delivery",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(128)),
    Column("until_us", BigInteger),
)
EVENT_DELIVERY_LEASE = "events"
