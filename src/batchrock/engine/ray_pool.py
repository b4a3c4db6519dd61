"""The replicas scaled-out jobs run their shards on: one pool per model and process, kept across jobs.

A replica is a Ray actor holding one loaded model; it is usable once its ``ready`` call answered
(the actor was placed and loaded its model). The pool outlives the job that started it: the next
job on the same catalog entry finds its replicas loaded, as the in-process executor finds its
backend, and jobs running at once share them (each replica runs shards of several jobs at once).
Ray ends the actors with the process that owns them.

A replica that dies (its node was lost, its process killed) is replaced by a new actor, which Ray
places wherever its resources are free; a replacement that cannot be placed yet just waits.
Replacing gives up, failing the job, only when replicas keep dying without a shard done between
(a model that cannot load). Each job's thread runs its own event loop, so the pool holds Ray's
``concurrent.futures`` and a coordinator wraps them in its own loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import ray

from batchrock.backends.base import BackendFailed
from batchrock.engine.ray_replica import ReplicaSpec, start_replica

log = logging.getLogger("batchrock.engine")


@dataclass(eq=False)
class Replica:
    actor: Any
    ready: Future[Any]
    alive: bool = True

    @property
    def node_id(self) -> str:
        return str(self.ready.result())

    def failed(self) -> BaseException | None:
        return self.ready.exception() if self.ready.done() else None


def replica_count(spec: ReplicaSpec, wanted: int) -> int:
    """``wanted``, or (0) as many replicas as the cluster's resources hold."""
    if wanted > 0:
        return wanted
    resources = spec.resources()
    cluster: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]  # ray leaves it untyped
    if resources.get("num_gpus"):
        return max(1, int(cluster.get("GPU", 0) // resources["num_gpus"]))
    return max(1, int(cluster.get("CPU", 0) // resources["num_cpus"]))


class ReplicaPool:
    def __init__(self, spec: ReplicaSpec) -> None:
        self.spec = spec
        self.replicas: list[Replica] = []
        self.size = 0
        self.deaths = 0  # since the last shard done
        self._lock = threading.Lock()

    def grow_to(self, count: int) -> None:
        """At least ``count`` replicas (a cluster that grew gets more; one never shrinks a pool)."""
        with self._lock:
            self.deaths = 0  # each job gets its own tries at starting replicas
            self.size = max(self.size, count)
            while len(self.replicas) < self.size:
                self.replicas.append(self._start())

    def _start(self) -> Replica:
        actor = start_replica(self.spec)
        return Replica(actor, actor.ready.remote().future())

    def usable(self) -> list[Replica]:
        for replica in self._current():
            if (why := replica.failed()) is not None:
                self.lost(replica, why)
        return [replica for replica in self._current() if replica.ready.done() and replica.failed() is None]

    def starting(self) -> list[Future[Any]]:
        return [replica.ready for replica in self._current() if not replica.ready.done()]

    def _current(self) -> list[Replica]:
        """The replicas now (another job's thread may be replacing one)."""
        with self._lock:
            return list(self.replicas)

    def succeeded(self) -> None:
        self.deaths = 0

    def lost(self, replica: Replica, why: BaseException | None) -> None:
        """The replica died: kill what is left of it and start another in its place."""
        with self._lock:
            if not replica.alive:
                return
            replica.alive = False
            self.replicas.remove(replica)
            self.deaths += 1
            log.warning("a %s replica died (%s); starting another", self.spec.backend_name, why)
            with contextlib.suppress(Exception):
                ray.kill(replica.actor, no_restart=True)
            if self.deaths > 3 * self.size:
                raise BackendFailed(f"every {self.spec.backend_name} replica on the Ray cluster keeps dying; "
                                    f"the last: {why}")
            self.replicas.append(self._start())


_pools: dict[str, ReplicaPool] = {}
_pools_lock = threading.Lock()


def pool_for(spec: ReplicaSpec, wanted: int) -> ReplicaPool:
    """This process's pool for the catalog entry, with at least the replicas a job wants."""
    key = json.dumps([spec.backend_name, spec.options, repr(spec.storage)], sort_keys=True, default=str)
    with _pools_lock:
        pool = _pools.setdefault(key, ReplicaPool(spec))
    pool.grow_to(replica_count(spec, wanted))
    return pool
