"""The transition table is the only authority on status changes: the status sets are derived from
it, and a real SQLite store, driven by random sequences of operations, makes exactly the changes
the table allows (its lifecycle edges, expiry among them, and the resume edge) and refuses the rest."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchrock.jobs.model import FailureKind, JobStatus
from batchrock.jobs.store import StatusChange
from batchrock.jobs.transitions import (
    EXPIRABLE,
    NOT_STARTED,
    RESUME,
    STOPPABLE,
    TERMINAL,
    TO_RUN,
    TO_VALIDATE,
    TransitionError,
    can_resume,
    can_transition,
)
from batchrock.store.sql import SqlJobStore, sqlite_url
from tests.store.test_dialects import T0, job

S = JobStatus
JOB_ID = "job00000001"
EXPIRES = T0 + timedelta(hours=24, seconds=1)  # job(1)'s expiration time


def test_every_status_set_comes_from_the_table() -> None:
    assert {S.COMPLETED, S.PARTIALLY_COMPLETED, S.FAILED, S.STOPPED, S.EXPIRED} == TERMINAL
    assert {S.SUBMITTED, S.VALIDATING, S.SCHEDULED, S.IN_PROGRESS} == STOPPABLE
    assert EXPIRABLE == NOT_STARTED == {S.SUBMITTED, S.VALIDATING, S.SCHEDULED}
    assert {S.SUBMITTED, S.VALIDATING} == TO_VALIDATE
    assert {S.SCHEDULED, S.IN_PROGRESS, S.STOPPING} == TO_RUN
    assert RESUME.source in TERMINAL and not can_transition(RESUME.source, RESUME.target)
    assert can_resume(S.FAILED, S.SCHEDULED, FailureKind.STORAGE)
    assert not can_resume(S.FAILED, S.SCHEDULED, None)  # a failure that was the job's own stays Failed


@dataclass(frozen=True)
class Change:
    target: JobStatus
    kind: FailureKind | None
    expected: JobStatus | None  # None: the status the job is in (a fresh compare-and-set)


@dataclass(frozen=True)
class Expire:
    hours: int


@dataclass(frozen=True)
class Claim:
    hours: int
    lease_hours: int


@dataclass(frozen=True)
class Resume:
    kinds: frozenset[FailureKind]


Step = Change | Expire | Claim | Resume

STATUSES = st.sampled_from(list(JobStatus))
HOURS = st.integers(0, 48)
STEPS = st.one_of(
    st.builds(Change, STATUSES, st.sampled_from([None, *FailureKind]), st.one_of(st.none(), STATUSES)),
    st.builds(Expire, HOURS),
    st.builds(Claim, HOURS, st.integers(-1, 48)),
    st.builds(Resume, st.frozensets(st.sampled_from(list(FailureKind)), min_size=1)),
)


@dataclass
class Model:
    """What the store should hold for the job, by the table alone."""

    status: JobStatus
    failure: FailureKind | None = None
    lease_until: datetime | None = None

    def lease_free(self, now: datetime) -> bool:
        return self.lease_until is None or self.lease_until < now


def _apply(store: SqlJobStore, model: Model, step: Step) -> None:
    """Run ``step`` on the store and on the model; assert the store accepted only edges of the table."""
    before = model.status
    if isinstance(step, Change):
        _change(store, model, step)
    elif isinstance(step, Expire):
        now = T0 + timedelta(hours=step.hours)
        store.expire_unstarted(now, "too late")
        if before in EXPIRABLE and now >= EXPIRES and model.lease_free(now):
            model.status, model.lease_until = S.EXPIRED, None
    elif isinstance(step, Claim):
        now = T0 + timedelta(hours=step.hours)
        until = now + timedelta(hours=step.lease_hours)
        claimed = store.claim_next([before], "w1", now, until)
        assert (claimed is not None) == model.lease_free(now)
        model.lease_until = until if claimed else model.lease_until
    else:
        resumed = store.resume_failed([JOB_ID], step.kinds, T0)
        assert (resumed == [JOB_ID]) == (before is RESUME.source and model.failure in step.kinds)
        if resumed:
            assert can_resume(before, RESUME.target, model.failure)
            model.status, model.failure, model.lease_until = RESUME.target, None, None
    current = store.get_job_by_id(JOB_ID)
    assert current is not None and current.status is model.status, (step, current)
    if model.status is not before and not isinstance(step, Resume):
        assert can_transition(before, model.status), (before, model.status)


def _change(store: SqlJobStore, model: Model, step: Change) -> None:
    expected = step.expected or model.status
    kind = step.kind if step.target is S.FAILED else None
    change = StatusChange(JOB_ID, expected, step.target, T0, ended=step.target in TERMINAL, failure_kind=kind)
    try:
        accepted = store.change_status(change)
    except TransitionError:
        assert not can_transition(expected, step.target)
        return
    assert can_transition(expected, step.target)
    assert accepted == (expected is model.status)  # an edge from the status the job is in is taken
    if accepted:
        model.status, model.failure = step.target, kind


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(start=STATUSES, failure=st.sampled_from([None, *FailureKind]), steps=st.lists(STEPS, max_size=12))
def test_the_store_changes_a_status_only_along_an_edge_of_the_table(
        start: JobStatus, failure: FailureKind | None, steps: list[Step]) -> None:
    failure = failure if start is S.FAILED else None
    with tempfile.TemporaryDirectory() as directory:
        store = SqlJobStore(sqlite_url(Path(directory)))
        try:
            store.add_job(job(1, S.IN_PROGRESS if start is S.FAILED else start), [])
            if start is S.FAILED:  # failed the way the engine fails a job, with its kind of failure
                assert store.change_status(StatusChange(JOB_ID, S.IN_PROGRESS, S.FAILED, T0, ended=True,
                                                        failure_kind=failure))
            model = Model(start, failure)
            for step in steps:
                _apply(store, model, step)
        finally:
            store.close()
