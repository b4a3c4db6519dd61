"""The one table of allowed status changes. Stores apply it with compare-and-set.

``ALLOWED`` is a job's lifecycle as Bedrock reports it; every status set the service and the
engine use is derived from it here. ``RESUME`` is the operator's one way back out of Failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from batchrock.jobs.model import FailureKind
from batchrock.jobs.model import JobStatus as S

ALLOWED: dict[S, frozenset[S]] = {
    S.SUBMITTED: frozenset({S.VALIDATING, S.STOPPING, S.EXPIRED, S.FAILED}),
    S.VALIDATING: frozenset({S.SCHEDULED, S.FAILED, S.STOPPING, S.EXPIRED}),
    S.SCHEDULED: frozenset({S.IN_PROGRESS, S.EXPIRED, S.STOPPING, S.FAILED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.PARTIALLY_COMPLETED, S.FAILED, S.STOPPING}),
    S.STOPPING: frozenset({S.STOPPED}),
    S.COMPLETED: frozenset(),
    S.PARTIALLY_COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.STOPPED: frozenset(),
    S.EXPIRED: frozenset(),
}


@dataclass(frozen=True)
class ResumeEdge:
    """An edge outside the lifecycle, taken only on an operator's request (``batchrock resume``),
    and only by a job whose failure is one of ``failures``. Being outside ``ALLOWED`` keeps
    ``source`` terminal for the API, as Bedrock reports it."""

    source: S
    target: S
    failures: frozenset[FailureKind]


# A job failed by the world (storage down, an output spoiled from outside) continues from its checkpoint.
RESUME = ResumeEdge(S.FAILED, S.SCHEDULED, frozenset({FailureKind.STORAGE, FailureKind.OUTPUT_CHECK}))


def sources_of(target: S) -> frozenset[S]:
    return frozenset(status for status, targets in ALLOWED.items() if target in targets)


def leading_to(target: S) -> frozenset[S]:
    """Every status from which the lifecycle can still reach ``target``."""
    found: set[S] = set()
    frontier = [target]
    while frontier:
        new = sources_of(frontier.pop()) - found
        found |= new
        frontier.extend(new)
    return frozenset(found)


TERMINAL: frozenset[S] = frozenset(status for status, targets in ALLOWED.items() if not targets)
STOPPABLE: frozenset[S] = sources_of(S.STOPPING)
EXPIRABLE: frozenset[S] = sources_of(S.EXPIRED)
NOT_STARTED: frozenset[S] = leading_to(S.IN_PROGRESS)  # stopped on the spot: no worker has outputs to close
TO_VALIDATE: frozenset[S] = leading_to(S.SCHEDULED)
TO_RUN: frozenset[S] = frozenset(S) - TERMINAL - TO_VALIDATE  # a worker takes each to its ending


def can_transition(source: S, target: S) -> bool:
    return target in ALLOWED[source]


def can_resume(source: S, target: S, failure: FailureKind | None) -> bool:
    return (source, target) == (RESUME.source, RESUME.target) and failure in RESUME.failures


class TransitionError(ValueError):
    def __init__(self, source: S, target: S, why: str = "") -> None:
        super().__init__(f"a job cannot go from {source.value} to {target.value}{why}")
        self.source = source
        self.target = target


def check_transition(source: S, target: S) -> None:
    if not can_transition(source, target):
        raise TransitionError(source, target)


def check_resume(failure: FailureKind) -> None:
    """Refuse a resume asked for a failure the table does not let out of ``RESUME.source``."""
    if not can_resume(RESUME.source, RESUME.target, failure):
        raise TransitionError(RESUME.source, RESUME.target, f" after a failure of kind {failure.value}")
