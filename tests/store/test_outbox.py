"""The outbox of job state-change events on both dialects: every status change writes its event in
its own transaction, one process at a time holds the delivery, and two deliverers on one store
send each event once, in order."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from batchrock.jobs.clock import SystemClock
from batchrock.jobs.model import FailureKind, Job, JobSpec, JobStatus, Owner, RecordCounts, S3InputConfig, S3OutputConfig
from batchrock.jobs.store import DuplicateJobName, StatusChange
from batchrock.observability.events import DeliveryConfig, EventDelivery
from batchrock.store.schema import event_delivery
from batchrock.store.sql import SqlJobStore
from tests.observability.receiver import Receiver, statuses_by_job

OWNER = Owner("123456789012", "us-east-1")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
S = JobStatus


def new_job(number: int, status: JobStatus = S.SUBMITTED, submitted: datetime = T0) -> Job:
    spec = JobSpec(f"job-{number}", "arn:aws:iam::123456789012:role/r", "model-x", S3InputConfig("s3://in/"),
                   S3OutputConfig("s3://out/"), 24)
    return Job(f"job{number:08d}", OWNER, spec, status, submitted, submitted, submitted + timedelta(hours=24), "f")


def events_of(store: SqlJobStore) -> list[dict[str, Any]]:
    return [json.loads(event.body) for event in store.outbox.pending_events(1000)]


def lease_holder(store: SqlJobStore) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(select(event_delivery.c.holder)).scalar()


def move(store: SqlJobStore, job_id: str, *path: JobStatus, counts: RecordCounts | None = None,
         at: datetime = T0 + timedelta(minutes=5)) -> None:
    for source, target in itertools.pairwise(path):
        assert store.change_status(StatusChange(job_id, source, target, at, counts=counts, ended=target is S.COMPLETED))


def test_every_status_change_writes_its_event_and_only_a_committed_one_does(store: SqlJobStore) -> None:
    store.add_job(new_job(1), [])
    with pytest.raises(DuplicateJobName):
        store.add_job(new_job(1), [])  # rolled back: no event
    assert not store.change_status(StatusChange("job00000001", S.VALIDATING, S.SCHEDULED, T0))  # a failed compare-and-set
    move(store, "job00000001", S.SUBMITTED, S.VALIDATING, S.SCHEDULED, S.IN_PROGRESS)
    move(store, "job00000001", S.IN_PROGRESS, S.COMPLETED, counts=RecordCounts(10, 10, 9, 1, 40, 50))
    store.add_job(new_job(2), [])
    assert store.expire_unstarted(T0 + timedelta(hours=25), "too late") == 1
    store.add_job(new_job(3, S.IN_PROGRESS), [])
    assert store.change_status(StatusChange("job00000003", S.IN_PROGRESS, S.FAILED, T0, "Storage error", ended=True,
                                            failure_kind=FailureKind.STORAGE))
    assert store.resume_failed(None, [FailureKind.STORAGE], T0 + timedelta(hours=1)) == ["job00000003"]
    events = events_of(store)
    by_job: dict[str, list[str]] = {}
    for event in events:
        by_job.setdefault(event["detail"]["batchJobArn"].rsplit("/", 1)[1], []).append(event["detail"]["status"])
    assert by_job == {"job00000001": ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"],
                      "job00000002": ["Submitted", "Expired"], "job00000003": ["InProgress", "Failed", "Scheduled"]}
    completed = events[4]
    assert completed["time"] == "2026-11-01T00:05:00Z" and completed["resources"] == [OWNER.job_arn("job00000001")]
    assert {key: completed["detail"][key] for key in ("processedRecordCount", "successRecordCount", "errorRecordCount",
                                                      "inputTokenCount", "outputTokenCount")} == \
        {"processedRecordCount": 10, "successRecordCount": 9, "errorRecordCount": 1, "inputTokenCount": 40,
         "outputTokenCount": 50}
    assert events[6]["detail"]["failureMessage"] == "too late"
    assert len({event["id"] for event in events}) == len(events) == store.outbox.count_pending_events()


def test_one_process_at_a_time_holds_the_delivery(store: SqlJobStore) -> None:
    outbox = store.outbox
    assert outbox.hold_delivery("a", T0, T0 + timedelta(seconds=30))
    assert not outbox.hold_delivery("b", T0 + timedelta(seconds=10), T0 + timedelta(seconds=40))
    assert outbox.hold_delivery("a", T0 + timedelta(seconds=20), T0 + timedelta(seconds=50))  # renewed
    assert not outbox.hold_delivery("b", T0 + timedelta(seconds=49), T0 + timedelta(seconds=79))
    assert outbox.hold_delivery("b", T0 + timedelta(seconds=51), T0 + timedelta(seconds=81))  # a's lapsed
    outbox.release_delivery("a")  # no longer a's: changes nothing
    assert not outbox.hold_delivery("a", T0 + timedelta(seconds=52), T0 + timedelta(seconds=82))
    outbox.release_delivery("b")
    assert outbox.hold_delivery("a", T0 + timedelta(seconds=53), T0 + timedelta(seconds=83))


def test_delivered_events_leave_the_queue_and_old_ones_are_pruned(store: SqlJobStore) -> None:
    for number in range(3):
        store.add_job(new_job(number), [])
    first, second, third = store.outbox.pending_events(10)
    assert first.seq < second.seq < third.seq and not first.delivered_to
    store.outbox.mark_delivered(first.seq, frozenset({"url-a"}), False, T0)
    store.outbox.mark_delivered(second.seq, frozenset({"url-a", "url-b"}), True, T0)
    pending = store.outbox.pending_events(10)
    assert [(event.seq, event.delivered_to) for event in pending] == [(first.seq, frozenset({"url-a"})), (third.seq, frozenset())]
    assert [event.seq for event in store.outbox.pending_events(10, missing="url-a")] == [third.seq]
    assert [event.seq for event in store.outbox.pending_events(10, missing="url-b")] == [first.seq, third.seq]
    now = datetime.now(UTC)
    assert store.outbox.prune_events(now, timedelta(hours=1), timedelta(days=365 * 100)) == 0
    assert store.outbox.count_pending_events() == 2
    assert store.outbox.prune_events(now, timedelta(hours=1), timedelta(seconds=0)) == 2  # undelivered, too old
    assert store.outbox.pending_events(10) == []


def test_two_deliverers_on_one_store_send_each_event_once_in_order(store: SqlJobStore, store_url: str) -> None:
    receiver = Receiver().start()
    other = SqlJobStore(store_url)  # a second process's view of the same store
    config = DeliveryConfig(urls=(receiver.url,), poll_seconds=0.02)
    first, second = (EventDelivery(s.outbox, config, SystemClock()) for s in (store, other))
    try:
        first.start()
        second.start()
        for number in range(6):
            store.add_job(new_job(number, submitted=datetime.now(UTC)), [])
            # dated now: a deliverer prunes undelivered events older than the retention (T0 is weeks ago),
            # and its first prune may run after these commits
            move(other, f"job{number:08d}", S.SUBMITTED, S.VALIDATING, S.SCHEDULED, at=datetime.now(UTC))
        receiver.wait_until(lambda got: len(got) == 18)
        holder = first if lease_holder(store) == first.holder else second
        holder.stop()  # releases the lease: the other takes over
        for number in range(6, 9):
            store.add_job(new_job(number, submitted=datetime.now(UTC)), [])
        got = receiver.wait_until(lambda got: len(got) == 21)
        time.sleep(0.2)  # a repeat would have arrived by now
    finally:
        first.stop()
        second.stop()
        other.close()
        receiver.stop()
    assert len(receiver.events()) == 21 and len({item.event["id"] for item in got}) == 21
    lives = statuses_by_job(got)
    assert all(lives[OWNER.job_arn(f"job{n:08d}")] == ["Submitted", "Validating", "Scheduled"] for n in range(6))
    assert all(lives[OWNER.job_arn(f"job{n:08d}")] == ["Submitted"] for n in range(6, 9))
    assert lease_holder(store) is None and store.outbox.count_pending_events() == 0  # idle released it on stop too
