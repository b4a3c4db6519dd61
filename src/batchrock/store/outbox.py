"""The outbox of job state-change events on SQL.

Each status change inserts its event, shaped as Bedrock's EventBridge event for batch jobs
(``Batch Inference Job State Change``), in the transaction of the change itself: a change that
commits has its event, one that rolls back has none, and a crash between the two cannot happen.
The body is written whole at that moment, so it shows the job as the change left it.

Delivery is one process at a time: the holder of a lease on the single ``event_delivery`` row
sends the pending events in ``seq`` order. A job's changes update its row in ``jobs`` first,
which serializes them, so its events take ``seq`` numbers in the order of its changes. One
deliverer keeps that order for every receiver; several would each need a job's earlier events
settled before sending its next, and event traffic (a handful per job) never needs more than one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, or_, select, update

from batchrock.jobs.model import Job
from batchrock.jobs.store import PendingEvent
from batchrock.jobs.timecodec import to_micros
from batchrock.store.schema import EVENT_DELIVERY_LEASE, event_delivery, job_events

DETAIL_TYPE = "Batch Inference Job State Change"
SOURCE = "aws.bedrock"

ConnectionScope = Callable[[], AbstractContextManager[Connection]]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def state_change_event(job: Job, at: datetime, event_id: str) -> dict[str, Any]:
    """The EventBridge envelope and Bedrock's detail members, plus the job's counts by their API names."""
    account, arn = job.owner.account_id, job.arn
    detail = {"version": "0.0", "accountId": account, "batchJobName": job.spec.job_name, "batchJobArn": arn,
              "batchModelId": job.spec.model_id, "status": job.status.value, "failureMessage": job.message or "",
              "creationTime": _iso(job.submit_time), **job.counts.by_member()}
    return {"version": "0", "id": event_id, "detail-type": DETAIL_TYPE, "source": SOURCE, "account": account,
            "time": _iso(at), "region": job.owner.region, "resources": [arn], "detail": detail}


def record_changes(conn: Connection, changed: Iterable[Job], at: datetime) -> None:
    """The events of jobs whose status just changed, inside the change's transaction (``conn``)."""
    rows = []
    for job in changed:
        event_id = str(uuid.uuid4())
        body = orjson.dumps(state_change_event(job, at, event_id)).decode()
        rows.append({"event_id": event_id, "job_id": job.job_id, "status": job.status.value,
                     "created_us": to_micros(at), "body": body, "delivered_to": "[]"})
    if rows:
        conn.execute(job_events.insert(), rows)


_PENDING = job_events.c.done_us.is_(None)
_LEASE = event_delivery.c.name == EVENT_DELIVERY_LEASE


class SqlOutbox:
    """The ``EventOutbox`` of ``batchrock.jobs.store``, on the job store's connections."""

    def __init__(self, writing: ConnectionScope, reading: ConnectionScope) -> None:
        self._writing = writing
        self._reading = reading

    def pending_events(self, limit: int, missing: str | None = None) -> list[PendingEvent]:
        columns = job_events.c
        conditions = [_PENDING]
        if missing is not None:  # keys are hex digits: no LIKE wildcard in them
            conditions.append(columns.delivered_to.not_like(f'%"{missing}"%'))
        statement = (select(columns.seq, columns.event_id, columns.body, columns.delivered_to)
                     .where(*conditions).order_by(columns.seq).limit(limit))
        with self._reading() as conn:
            rows = conn.execute(statement).all()
        return [PendingEvent(int(seq), event_id, body.encode(), frozenset(orjson.loads(delivered)))
                for seq, event_id, body, delivered in rows]

    def count_pending_events(self) -> int:
        with self._reading() as conn:
            return int(conn.execute(select(func.count()).select_from(job_events).where(_PENDING)).scalar_one())

    def hold_delivery(self, holder: str, now: datetime, until: datetime) -> bool:
        lease = event_delivery.c
        free = or_(lease.holder.is_(None), lease.holder == holder, lease.until_us < to_micros(now))
        statement = update(event_delivery).where(_LEASE, free).values(holder=holder, until_us=to_micros(until))
        with self._writing() as conn:
            return conn.execute(statement).rowcount == 1

    def release_delivery(self, holder: str) -> None:
        statement = (update(event_delivery).where(_LEASE, event_delivery.c.holder == holder)
                     .values(holder=None, until_us=None))
        with self._writing() as conn:
            conn.execute(statement)

    def mark_delivered(self, seq: int, delivered_to: frozenset[str], done: bool, now: datetime) -> None:
        values: dict[str, Any] = {"delivered_to": orjson.dumps(sorted(delivered_to)).decode()}
        if done:
            values["done_us"] = to_micros(now)
        with self._writing() as conn:
            conn.execute(update(job_events).where(job_events.c.seq == seq).values(values))

    def prune_events(self, now: datetime, keep_delivered: timedelta, keep_undelivered: timedelta) -> int:
        columns = job_events.c
        delivered_before, created_before = to_micros(now - keep_delivered), to_micros(now - keep_undelivered)
        with self._writing() as conn:
            dropped = conn.execute(delete(job_events).where(_PENDING, columns.created_us < created_before)).rowcount
            conn.execute(delete(job_events).where(columns.done_us < delivered_before))
        return int(dropped)
