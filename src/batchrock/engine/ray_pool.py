"""The replicas a scaled-out job runs its shards on, and replacing those that die.

A replica is usable once its ``ready`` call answered (its actor was placed and made its
backend). One that dies (its node was lost, its process killed) is replaced by a new actor,
which Ray places wherever its resources are free; a replacement that cannot be placed yet just
waits. Starting fails the job only when every replica keeps dying (a model that cannot load).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import ray

from batchrock.backends.base import BackendFailed
from batchrock.engine.ray_replica import ReplicaSpec, start_replica

log = logging.getLogger("batchrock.engine")


@dataclass(eq=False)
class Replica:
    actor: Any
    ready: asyncio.Future[Any]
    alive: bool = True

    @property
    def node_id(self) -> str:
        return str(self.ready.result())


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
    def __init__(self, spec: ReplicaSpec, count: int) -> None:
        self.spec = spec
        self.starts_left = 3 * count  # replacements included
        self.replicas = [self._start() for _ in range(count)]
        self.last_death: BaseException | None = None

    def _start(self) -> Replica:
        self.starts_left -= 1
        actor = start_replica(self.spec)
        return Replica(actor, asyncio.wrap_future(actor.ready.remote().future()))

    def usable(self) -> list[Replica]:
        for replica in list(self.replicas):
            if replica.ready.done() and replica.ready.exception() is not None:
                self.lost(replica, replica.ready.exception())
        return [replica for replica in self.replicas if replica.ready.done()]

    def starting(self) -> list[asyncio.Future[Any]]:
        return [replica.ready for replica in self.replicas if not replica.ready.done()]

    def lost(self, replica: Replica, why: BaseException | None) -> None:
        """The replica died: kill what is left of it and start another in its place."""
        if not replica.alive:
            return
        replica.alive = False
        self.replicas.remove(replica)
        self.last_death = why
        log.warning("a %s replica died (%s); starting another", self.spec.backend_name, why)
        with contextlib.suppress(Exception):
            ray.kill(replica.actor, no_restart=True)
        if self.starts_left > 0:
            self.replicas.append(self._start())
        elif not self.replicas:
            raise BackendFailed(f"every {self.spec.backend_name} replica on the Ray cluster died; the last: {why}")

    def close(self) -> None:
        for replica in self.replicas:
            with contextlib.suppress(Exception):
                ray.kill(replica.actor, no_restart=True)
        self.replicas = []
