"""A worker: claims jobs with leases, heartbeats them, and runs each through its lifecycle.

``batchrock serve`` runs one in-process; ``batchrock worker`` runs more against the same store.
Each loop turn the worker (1) expires jobs that never started in time, (2) validates one
submitted job, and (3) while it has a free run slot, claims the oldest Scheduled job — or
one whose previous worker died (its lease lapsed) — and runs it in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from batchrock.backends.registry import BackendRegistry
from batchrock.catalog import Catalog
from batchrock.engine.lease import HeldLease, LeaseLost
from batchrock.engine.lifecycle import JobLifecycle
from batchrock.engine.runner import RunDeps
from batchrock.jobs.model import Job, JobStatus
from batchrock.jobs.store import StoreUnwritable
from batchrock.jobs.transitions import TO_RUN, TO_VALIDATE
from batchrock.security.policy import Policy
from batchrock.storage.retrying import StorageWaitInterrupted
from batchrock.storage.spec import StorageSpec

log = logging.getLogger("batchrock.worker")

EXPIRED_MESSAGE = "The job did not start before its jobExpirationTime."


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(self, deps: RunDeps, catalog: Catalog, policy: Policy, backends: BackendRegistry,
                 storage: StorageSpec | None = None) -> None:
        self.deps = deps
        self.lifecycle = JobLifecycle(deps, catalog, policy, backends, storage)
        self.config = deps.config
        self._held: dict[str, threading.Thread] = {}
        self._leases: dict[str, HeldLease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._store_trouble: str | None = None

    def start(self) -> None:
        for target, name in ((self._loop, "batchrock-worker"), (self._heartbeat_loop, "batchrock-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop claiming; running jobs checkpoint what they have and release their leases."""
        self._stop.set()
        self._wake.set()
        self.deps.shutdown.set()
        with self._lock:
            running = list(self._held.values())
        for thread in [*self._threads, *running]:
            thread.join(timeout)

    def wake(self) -> None:
        """Look for work now (a job was just created) rather than at the next poll."""
        self._wake.set()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.config.lease_seconds / 3):
            try:
                self._heartbeat()
            except StoreUnwritable as problem:
                self._note_store_trouble(problem)
            except Exception:
                log.exception("heartbeat failed")

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.tick()
                self._note_store_trouble(None)
            except StoreUnwritable as problem:
                self._note_store_trouble(problem)
                busy = False
            except StorageWaitInterrupted:
                break  # shutting down while validating against unreachable storage: it resumes on the next start
            except Exception:
                log.exception("worker turn failed")
                busy = False
            self._wake.wait(0.05 if busy else self.config.poll_seconds)
            self._wake.clear()

    def _note_store_trouble(self, problem: StoreUnwritable | None) -> None:
        """One log line when the store stops (or starts again) taking writes, not one per turn."""
        reason = None if problem is None else problem.reason
        if reason != self._store_trouble:
            if reason is None:
                log.warning("the job store accepts writes again; claiming work")
            else:
                log.error("the job store cannot be written (%s); no job moves until it can", reason)
            self._store_trouble = reason

    def tick(self) -> bool:
        """One turn; True when it found work (so the next turn comes sooner)."""
        now = self.deps.clock.now()
        self.deps.store.expire_unstarted(now, EXPIRED_MESSAGE)
        busy = self._validate_one()
        if self._running() < self.config.max_running_jobs:
            claimed = self._claim(TO_RUN)
            if claimed is not None:
                self._launch(*claimed)
                busy = True
        return busy

    def _claim(self, statuses: frozenset[JobStatus]) -> tuple[Job, HeldLease] | None:
        now = self.deps.clock.now()
        lease_until = now + timedelta(seconds=self.config.lease_seconds)
        with self._lock:
            # its lease can look lapsed while it runs here (a clock that jumped): renewing is the heartbeat's job
            running = list(self._held)
        claim = self.deps.store.claim_next(statuses, self.deps.worker_id, now, lease_until, running)
        if claim is None:
            return None
        held = HeldLease(claim.lease, self.deps.store, self.deps.clock, self.config.lease_seconds)
        with self._lock:
            self._leases[claim.job.job_id] = held
        return claim.job, held

    def _release(self, held: HeldLease) -> None:
        self._let_lease_lapse(held)
        with contextlib.suppress(StoreUnwritable):  # it lapses instead
            held.release()

    def _let_lease_lapse(self, held: HeldLease) -> None:
        """No more heartbeats for this lease: once it lapses, a worker resumes the job from its checkpoint."""
        with self._lock:
            if self._leases.get(held.job_id) is held:
                del self._leases[held.job_id]

    def _validate_one(self) -> bool:
        claimed = self._claim(TO_VALIDATE)
        if claimed is None:
            return False
        job, held = claimed
        try:
            self.lifecycle.validate(job, held)
        except LeaseLost:
            log.warning("job %s: lease lost to another worker while validating; leaving it", job.job_id)
        finally:
            self._release(held)
        return True

    def _launch(self, job: Job, held: HeldLease) -> None:
        thread = threading.Thread(target=self._run, args=(job, held), name=f"job-{job.job_id}", daemon=True)
        with self._lock:
            self._held[job.job_id] = thread
        thread.start()

    def _run(self, job: Job, held: HeldLease) -> None:
        try:
            asyncio.run(self.lifecycle.run(job, held))
        except LeaseLost:
            log.warning("job %s: lease lost to another worker; this worker stopped before writing again", job.job_id)
        except StorageWaitInterrupted:
            log.warning("job %s: shutting down while storage was unreachable; it resumes from its last checkpoint "
                        "on the next start", job.job_id)
        except StoreUnwritable as problem:
            log.error("job %s: the job store cannot be written (%s); the job halts at its last checkpoint and "
                      "resumes when the store accepts writes again", job.job_id, problem.reason)
            self._let_lease_lapse(held)
            return
        except Exception:
            log.exception("job %s: run crashed; it resumes when its lease lapses", job.job_id)
            self._let_lease_lapse(held)
            return
        finally:
            with self._lock:
                self._held.pop(job.job_id, None)
            self._wake.set()  # a slot is free: look for the next job now
        self._release(held)

    def _running(self) -> int:
        with self._lock:
            return len(self._held)

    def _heartbeat(self) -> None:
        with self._lock:
            held = list(self._leases.values())
        for lease in held:
            if not lease.renew() and lease.lost:  # not one its run released since the list was taken
                log.warning("job %s: another worker took over its lease; stopping this run", lease.job_id)
                self._let_lease_lapse(lease)

    def drain(self, timeout: float = 60.0) -> bool:
        """Run turns until no job is left to validate or run (a test and CLI helper). Like the
        worker's own loop it turns again at once when there was work or a job ended, else at the
        heartbeat: a turn takes the GIL the running jobs need."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._heartbeat()
            busy = self.tick()
            if not busy and self._running() == 0:
                return True
            self._wake.wait(0.05 if busy else min(self.config.poll_seconds, self.config.lease_seconds / 3))
            self._wake.clear()
        return False
