"""A model replica on the Ray cluster: an actor holding one backend, made in the actor's own process.

The backend is made as the in-process executor makes it (``BackendRegistry.backend_for``): a
llama.cpp or transformers model runs in its model host process under the actor, batching
continuously across the shards the actor runs at once (an async actor: their records share the
model's decode steps), and a native crash costs the host, which restarts, not the actor. Ray
restarts nothing by itself; the coordinator replaces a replica that died. The model loads once,
when the actor starts (``ready`` waits for it), and the actor serves many shards of many jobs. ``progress`` answers while
shards run, for the job's live counts.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import ray

from batchrock.backends.base import BackendError, GenerationRequest, RequestKind
from batchrock.backends.registry import BackendRegistry
from batchrock.engine.inputs import IdsBefore
from batchrock.engine.shard_run import ShardRun, ShardTask
from batchrock.jobs.model import RecordCounts
from batchrock.storage.base import Location
from batchrock.storage.spec import StorageSpec

_FILES_KEPT = 8
_GENERATORS = {"llamacpp", "transformers"}  # warmed up with one token (an embedding model loads on first use)


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
        self.spec = spec
        self.registry = BackendRegistry.from_entry_points()
        self.backend = self.registry.backend_for(spec.backend_name,
                                                 self.registry.options_for(spec.backend_name, spec.options))
        self.objects = spec.storage.open()
        self.node_id = ray.get_runtime_context().get_node_id()
        self.runs: dict[str, ShardRun] = {}
        self.ids: OrderedDict[tuple[str, int], IdsBefore] = OrderedDict()  # the latest files' recordIds

    async def ready(self) -> str:
        """The node this replica runs on, once its model has loaded (a generation request's first
        token: a model that cannot load or run fails here, and the replica is replaced)."""
        if self.spec.backend_name in _GENERATORS and not self.spec.options.get("embedding"):
            [answer] = await self.backend.generate([GenerationRequest(RequestKind.COMPLETION, prompt="Hello",
                                                                      max_tokens=1)])
            if isinstance(answer, BackendError):
                raise RuntimeError(f"the {self.spec.backend_name} replica cannot run its model: {answer}")
        return str(self.node_id)

    async def run_shard(self, task: ShardTask) -> RecordCounts:
        run = ShardRun(task, self.backend, self.objects, self._ids_before(task))
        self.runs[task.name] = run
        try:
            return await run.run()
        finally:
            del self.runs[task.name]

    def _ids_before(self, task: ShardTask) -> set[str]:
        shard, job = task.shard, task.job
        key = (job.job_id, shard.file_index)
        if key not in self.ids:
            bucket = Location.parse(job.spec.input_config.s3_uri).bucket
            self.ids[key] = IdsBefore(self.objects, bucket, task.input_key, job.job_id, shard.file_index)
            while len(self.ids) > _FILES_KEPT:
                self.ids.popitem(last=False)
        self.ids.move_to_end(key)
        return self.ids[key].upto(shard.start)

    async def progress(self) -> dict[str, RecordCounts]:
        return {name: run.counts() for name, run in self.runs.items()}


def start_replica(spec: ReplicaSpec) -> Any:
    """A new replica actor (its handle); it is placed where its resources are free."""
    resources = spec.resources()
    actor_class = ray.remote(num_cpus=resources["num_cpus"], num_gpus=resources.get("num_gpus", 0))(ShardReplica)
    return actor_class.remote(spec)
