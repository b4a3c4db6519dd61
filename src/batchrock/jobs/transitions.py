"""The one table of allowed status changes. Stores apply it with compare-and-set."""

from __future__ import annotations

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

TERMINAL: frozenset[S] = frozenset(status for status, targets in ALLOWED.items() if not targets)
STOPPABLE: frozenset[S] = frozenset(status for status, targets in ALLOWED.items() if S.STOPPING in targets)


def can_transition(source: S, target: S) -> bool:
    return target in ALLOWED[source]


class TransitionError(ValueError):
    def __init__(self, source: S, target: S) -> None:
        super().__init__(f"a job cannot go from {source.value} to {target.value}")
        self.source = source
        self.target = target


def check_transition(source: S, target: S) -> None:
    if not can_transition(source, target):
        raise TransitionError(source, target)
