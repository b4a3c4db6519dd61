"""A model replica on the Ray cluster: an actor holding one backend, made in the actor's own process.

The backend runs in-process there (``hosted = false``): the actor is the isolation a model host
gives on one machine, and Ray restarts nothing by itself; the coordinator replaces a replica that
died. The model loads once, when the actor starts, and the actor serves many shards, several at
once (an async actor: their records share the backend's batches). ``progress`` answers while
shards run, for the job's live counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray

from batchrock.backends.registry import BackendRegistry
from batchrock.engine.shard_run import ShardRun, ShardTask
from batchrock.jobs.model import RecordCounts
from batchrock.storage.spec import StorageSpec


@dataclass(frozen=True)
class ReplicaSpec:
    backend_name: str
    options: dict[str, Any]  # the catalog entry's keys
    storage: StorageSpec

    def resources(self) -> dict[str, float]:
        """What one replica reserves on its node: a GPU for transformers (unless set to the CPU),
        llama.cpp's threads as CPUs, one CPU otherwise."""
        if self.backend_name == "transformers" and self.options.get("device", "cuda") != "cpu":
            return {"num_cpus": 1, "num_gpus": 1}
        if self.backend_name == "llamacpp":
            return {"num_cpus": float(self.options.get("n_threads") or 1)}
        return {"num_cpus": 1}


class ShardReplica:
    def __init__(self, spec: ReplicaSpec) -> None:
        self.registry = BackendRegistry.from_entry_points()
        options = self.registry.options_for(spec.backend_name, {**spec.options, "hosted": False})
        self.backend = self.registry.create_local(spec.backend_name, options)
        self.objects = spec.storage.open()
        self.node_id = ray.get_runtime_context().get_node_id()
        self.runs: dict[str, ShardRun] = {}

    async def ready(self) -> str:
        """The node this replica runs on, once its model has loaded."""
        return str(self.node_id)

    async def run_shard(self, task: ShardTask) -> RecordCounts:
        run = ShardRun(task, self.backend, self.objects)
        self.runs[task.name] = run
        try:
            return await run.run()
        finally:
            del self.runs[task.name]

    async def progress(self) -> dict[str, RecordCounts]:
        return {name: run.counts() for name, run in self.runs.items()}


def start_replica(spec: ReplicaSpec) -> Any:
    """A new replica actor (its handle); it is placed where its resources are free."""
    resources = spec.resources()
    actor_class = ray.remote(num_cpus=resources["num_cpus"], num_gpus=resources.get("num_gpus", 0))(ShardReplica)
    return actor_class.remote(spec)
