"""A worker's lease on one job, as the code running the job sees it.

The store fences every write by the lease's epoch, so a worker that lost its lease (paused
past it, cut off from the store) cannot change what the new owner committed. This object
makes such a worker notice early and stop: the heartbeat marks it lost when a renewal is
refused, and before each write the runner calls ``ensure()``, which also renews on the spot
when the heartbeat is late (the process was paused, say), so a worker that wakes up after
its lease ran out learns it before it writes rather than after.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from batchrock.jobs.clock import Clock
from batchrock.jobs.store import JobStore, Lease


class LeaseLost(Exception):
    """Another worker owns the job now: this one writes nothing more."""


class HeldLease:
    def __init__(self, lease: Lease, store: JobStore, clock: Clock, seconds: float) -> None:
        self.lease = lease
        self.store = store
        self.clock = clock
        self.seconds = seconds
        self._lost = threading.Event()
        self._released = threading.Event()
        self._renewed_at = time.monotonic()

    @property
    def job_id(self) -> str:
        return self.lease.job_id

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def renew(self) -> bool:
        """Extend the lease in the store; False (and lost from now on) when another worker holds it.
        A lease this worker has released is not renewed, and not lost: a heartbeat that raced the
        release finds the store refusing it, and must not take that for another worker's claim."""
        if self.lost or self._released.is_set():
            return False
        started = time.monotonic()
        if self.store.renew_lease(self.lease, self.clock.now() + timedelta(seconds=self.seconds)):
            self._renewed_at = started
            return True
        if not self._released.is_set():
            self._lost.set()
        return False

    def ensure(self) -> None:
        """Raise LeaseLost unless the lease still holds; renews first when a third of it is left."""
        if self.lost:
            raise LeaseLost(self.job_id)
        if time.monotonic() - self._renewed_at > self.seconds * 2 / 3 and not self.renew():
            raise LeaseLost(self.job_id)

    def release(self) -> None:
        self._released.set()
        if not self.lost:
            self.store.release_lease(self.lease)
