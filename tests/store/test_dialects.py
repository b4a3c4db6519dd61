"""The job store's rules on both dialects: uniqueness, compare-and-set status changes, leases
that hand each job to exactly one of many concurrent workers, checkpoints, resumes, expiry,
paging, tags, and a store that cannot be written."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from batchrock.jobs.model import (
    FailureKind,
    Job,
    JobSpec,
    JobStatus,
    Owner,
    RecordCounts,
    S3InputConfig,
    S3OutputConfig,
    Tag,
)
from batchrock.jobs.store import (
    DuplicateClientToken,
    DuplicateJobName,
    FileProgress,
    JobQuery,
    Lease,
    ListCursor,
    StatusChange,
    StoreUnwritable,
    TooManyTagsInStore,
)
from batchrock.store.sql import SqlJobStore

OWNER = Owner("123456789012", "us-east-1")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def job(number: int, status: JobStatus = JobStatus.SCHEDULED, token: str | None = None, owner: Owner = OWNER) -> Job:
    spec = JobSpec(f"job-{number}", "arn:aws:iam::123456789012:role/r", "m", S3InputConfig("s3://in/"),
                   S3OutputConfig("s3://out/"), 24, client_request_token=token)
    submitted = T0 + timedelta(seconds=number)
    return Job(f"job{number:08d}", owner, spec, status, submitted, submitted, submitted + timedelta(hours=24), "f")


def test_names_and_tokens_are_unique_per_owner(store: SqlJobStore) -> None:
    store.add_job(job(1, token="tok"), [Tag("team", "ml")])
    with pytest.raises(DuplicateJobName):
        store.add_job(replace(job(2), spec=job(1).spec), [])
    with pytest.raises(DuplicateClientToken):
        store.add_job(job(3, token="tok"), [])
    other = Owner("210987654321", "us-east-1")
    store.add_job(replace(job(4, token="tok", owner=other), spec=job(1, token="tok").spec), [])
    assert store.find_by_client_token(OWNER, "tok").job_id == "job00000001"  # type: ignore[union-attr]
    assert store.get_job(other, "job00000001") is None
    assert store.list_tags("job00000001") == [Tag("team", "ml")]


def test_status_changes_are_compare_and_set(store: SqlJobStore) -> None:
    store.add_job(job(1, JobStatus.IN_PROGRESS), [])
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def finish(target: JobStatus) -> None:
        barrier.wait()
        results.append(store.change_status(StatusChange("job00000001", JobStatus.IN_PROGRESS, target, T0, ended=True)))

    threads = [threading.Thread(target=finish, args=(t,)) for t in
               (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.PARTIALLY_COMPLETED, JobStatus.STOPPING)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]


def test_each_job_goes_to_exactly_one_of_many_claiming_workers(store: SqlJobStore) -> None:
    for number in range(40):
        store.add_job(job(number), [])
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()

    def work(worker: str) -> None:
        while (found := store.claim_next([JobStatus.SCHEDULED], worker, T0, T0 + timedelta(hours=1))) is not None:
            with lock:
                claimed.setdefault(found.job.job_id, []).append(worker)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 40 and all(len(workers) == 1 for workers in claimed.values())
    # a lapsed lease is free again; a held one is not
    assert store.claim_next([JobStatus.SCHEDULED], "late", T0 + timedelta(hours=2), T0 + timedelta(hours=3)) is not None
    assert store.claim_next([JobStatus.SCHEDULED], "late", T0, T0 + timedelta(hours=1)) is None


def test_checkpoints_need_the_lease_and_failed_storage_jobs_resume(store: SqlJobStore) -> None:
    store.add_job(job(1), [])
    claim = store.claim_next([JobStatus.SCHEDULED], "w1", T0, T0 + timedelta(hours=1))
    assert claim is not None and claim.lease == Lease("job00000001", "w1", 1)
    assert store.save_files(claim.lease, [FileProgress(0, "in/a.jsonl", "out/a.jsonl.out", 10)], RecordCounts(10), T0)
    progress = FileProgress(0, "in/a.jsonl", "out/a.jsonl.out", 10, ("out/p1",), 300, 5, 4, 1, 50, 60)
    counts = RecordCounts(10, 5, 4, 1, 50, 60)
    assert not store.checkpoint(Lease("job00000001", "w2", 1), progress, counts, T0)
    assert store.checkpoint(claim.lease, progress, counts, T0)
    assert store.load_files("job00000001") == [progress]
    store.change_status(StatusChange("job00000001", JobStatus.SCHEDULED, JobStatus.IN_PROGRESS, T0))
    store.change_status(StatusChange("job00000001", JobStatus.IN_PROGRESS, JobStatus.FAILED, T0, "Storage error: x",
                                     ended=True, failure_kind=FailureKind.STORAGE))
    store.add_job(job(2, JobStatus.IN_PROGRESS), [])
    store.change_status(StatusChange("job00000002", JobStatus.IN_PROGRESS, JobStatus.FAILED, T0, "bad", ended=True))
    assert store.resume_failed(None, [FailureKind.STORAGE], T0) == ["job00000001"]
    resumed = store.get_job_by_id("job00000001")
    assert resumed is not None and resumed.status is JobStatus.SCHEDULED and resumed.message is None
    assert resumed.end_time is None and resumed.counts.processed == 5
    assert store.get_job_by_id("job00000002").status is JobStatus.FAILED  # type: ignore[union-attr]


def test_a_worker_whose_lease_was_claimed_again_cannot_write(store: SqlJobStore) -> None:
    """Fencing: the same worker id, or another, under an older epoch changes nothing."""
    store.add_job(job(1), [])
    stale = store.claim_next([JobStatus.SCHEDULED], "w1", T0, T0 + timedelta(seconds=3))
    assert stale is not None
    plan = [FileProgress(0, "in/a.jsonl", "out/a.jsonl.out", 10)]
    assert store.save_files(stale.lease, plan, RecordCounts(10), T0)
    # w1 is paused past its lease; w1 itself (restarted) and then w2 claim the job again
    again = store.claim_next([JobStatus.SCHEDULED], "w1", T0 + timedelta(seconds=4), T0 + timedelta(seconds=5))
    current = store.claim_next([JobStatus.SCHEDULED], "w2", T0 + timedelta(seconds=6), T0 + timedelta(seconds=60))
    assert again is not None and current is not None
    assert (stale.lease.epoch, again.lease.epoch, current.lease.epoch) == (1, 2, 3)
    committed = replace(plan[0], parts=("p-3-1",), input_offset=10, records_done=3, success=3)
    assert store.checkpoint(current.lease, committed, RecordCounts(10, 3, 3), T0)
    late = replace(plan[0], parts=("p-1-1", "p-1-2"), input_offset=20, records_done=6, success=6)
    for lease in (stale.lease, again.lease):
        assert not store.checkpoint(lease, late, RecordCounts(10, 6, 6), T0)
        assert not store.publish_counts(lease, RecordCounts(10, 9, 9), T0)
        assert not store.save_files(lease, plan, RecordCounts(10), T0)
        assert not store.renew_lease(lease, T0 + timedelta(hours=1))
        assert not store.change_status(StatusChange("job00000001", JobStatus.SCHEDULED, JobStatus.IN_PROGRESS, T0,
                                                    lease=lease))
        store.release_lease(lease)
    assert store.load_files("job00000001") == [committed]
    held = store.get_job_by_id("job00000001")
    assert held is not None and held.status is JobStatus.SCHEDULED and held.counts.processed == 3
    assert store.renew_lease(current.lease, T0 + timedelta(hours=1))
    assert store.change_status(StatusChange("job00000001", JobStatus.SCHEDULED, JobStatus.IN_PROGRESS, T0,
                                            lease=current.lease))


def test_live_counts_never_go_backwards_and_the_ending_sets_them_exactly(store: SqlJobStore) -> None:
    store.add_job(job(1, JobStatus.IN_PROGRESS), [])
    first = store.claim_next([JobStatus.IN_PROGRESS], "w1", T0, T0 + timedelta(seconds=3))
    assert first is not None and store.publish_counts(first.lease, RecordCounts(10, 8, 8), T0)
    second = store.claim_next([JobStatus.IN_PROGRESS], "w2", T0 + timedelta(seconds=9), T0 + timedelta(seconds=60))
    assert second is not None
    progress = FileProgress(0, "in/a.jsonl", "out/a.jsonl.out", 10, ("p",), 10, 5, 5)
    assert store.checkpoint(second.lease, progress, RecordCounts(10, 5, 5), T0)  # resumed from an older checkpoint
    assert store.get_job_by_id("job00000001").counts.processed == 8  # type: ignore[union-attr]
    assert store.publish_counts(second.lease, RecordCounts(10, 9, 8, 1), T0)
    assert store.get_job_by_id("job00000001").counts == RecordCounts(10, 9, 8, 1)  # type: ignore[union-attr]
    final = RecordCounts(10, 10, 7, 3)
    assert store.change_status(StatusChange("job00000001", JobStatus.IN_PROGRESS, JobStatus.COMPLETED, T0, ended=True,
                                            lease=second.lease, counts=final))
    assert store.get_job_by_id("job00000001").counts == final  # type: ignore[union-attr]


def test_unstarted_jobs_expire(store: SqlJobStore) -> None:
    store.add_job(job(1, JobStatus.SUBMITTED), [])
    store.add_job(job(2, JobStatus.IN_PROGRESS), [])
    assert store.expire_unstarted(T0 + timedelta(hours=30), "too late") == 1
    assert store.get_job_by_id("job00000001").status is JobStatus.EXPIRED  # type: ignore[union-attr]


def test_paging_filters_and_tags(store: SqlJobStore) -> None:
    for number in range(7):
        store.add_job(job(number, JobStatus.COMPLETED if number % 2 else JobStatus.FAILED), [])
    first = store.list_jobs(JobQuery(OWNER, limit=3))
    assert [j.job_id for j in first] == ["job00000006", "job00000005", "job00000004"]
    after = ListCursor(first[-1].submit_time, first[-1].job_id)
    second = store.list_jobs(JobQuery(OWNER, limit=3, after=after))
    assert [j.job_id for j in second] == ["job00000003", "job00000002", "job00000001"]
    done = store.list_jobs(JobQuery(OWNER, limit=10, status=JobStatus.COMPLETED, name_contains="job-"))
    assert [j.job_id for j in done] == ["job00000005", "job00000003", "job00000001"]
    store.put_tags("job00000001", [Tag("a", "1"), Tag("b", "2")], limit=2)
    with pytest.raises(TooManyTagsInStore):
        store.put_tags("job00000001", [Tag("c", "3")], limit=2)
    store.remove_tags("job00000001", ["a"])
    assert store.list_tags("job00000001") == [Tag("b", "2")]


def test_a_store_that_cannot_be_written_says_so_and_still_reads(store: SqlJobStore, store_url: str) -> None:
    store.add_job(job(1), [])
    if store.is_sqlite:
        pytest.skip("SQLite's read-only and full disks are tested on real mounts (tests/faults/test_data_dir.py)")
    admin = create_engine(store_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE \"{store_url.rsplit('/', 1)[1]}\" SET default_transaction_read_only = on"))
    admin.dispose()
    store.close()
    read_only = SqlJobStore(store_url, read_only=True)
    with pytest.raises(StoreUnwritable, match="read-only transaction"):
        read_only.add_job(job(2), [])
    assert read_only.write_problem is not None and "read-only" in read_only.write_problem
    assert read_only.get_job_by_id("job00000001") is not None
    read_only.close()


def test_a_shared_secret_is_made_once_and_the_same_for_every_server(store: SqlJobStore, store_url: str) -> None:
    others = [SqlJobStore(store_url) for _ in range(3)]
    found: list[bytes] = []
    threads = [threading.Thread(target=lambda s=s: found.append(s.shared_secret("pagination"))) for s in [store, *others]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4 and len(set(found)) == 1 and len(found[0]) == 32
    assert store.shared_secret("other") != found[0]
    for other in others:
        other.close()
