"""Mapping between shards (``jobs.shards``) and rows of ``job_shards``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchrock.jobs.shards import ShardProgress, ShardState
from batchrock.store.rows import counts_from_row, counts_to_row
from batchrock.store.schema import FILE_COUNT_COLUMNS


def shard_row(job_id: str, shard: ShardProgress) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "file_index": shard.file_index,
        "shard_index": shard.shard_index,
        "start_offset": shard.start,
        "end_offset": shard.end,
        "first_record": shard.first_record,
        "state": shard.state.value,
        "runner": shard.runner,
        "output_key": shard.output_key,
        "epoch": shard.epoch,
        **counts_to_row(shard.counts, FILE_COUNT_COLUMNS),
    }


def shard_progress(row: Mapping[Any, Any]) -> ShardProgress:
    return ShardProgress(
        file_index=row["file_index"],
        shard_index=row["shard_index"],
        start=row["start_offset"],
        end=row["end_offset"],
        first_record=row["first_record"],
        counts=counts_from_row(row, FILE_COUNT_COLUMNS),
        state=ShardState(row["state"]),
        runner=row["runner"],
        output_key=row["output_key"],
        epoch=row["epoch"],
    )
