"""Engine limits and knobs, with documented defaults (see README, 'Configuration')."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    max_running_jobs: int = 2          # jobs InProgress at once per worker; the rest wait in Scheduled
    lease_seconds: float = 30.0        # a job whose worker stops heartbeating is picked up after this
    poll_seconds: float = 0.5          # how often an idle worker looks for work
    batch_size: int = 8                # records handed to the backend per call
    part_bytes: int = 8 * 1024 * 1024  # output buffered per checkpoint: one part object each
    progress_seconds: float = 1.0      # how often live record counts are published
    retries: int = 3                   # attempts after the first for a retryable backend error
    retry_base_seconds: float = 0.5
    backend_outage_seconds: float = 3600.0  # a job pauses this long for a backend that is down
    min_records: int = 0               # unlike Bedrock (100), small jobs are fine by default
    max_records_per_file: int = 1_000_000
    max_records_per_job: int = 5_000_000
    max_file_bytes: int = 1024 ** 3
    max_job_bytes: int = 5 * 1024 ** 3
    max_record_bytes: int = 1024 * 1024
    shard_records: int = 1000          # records per shard: what a scaled-out executor schedules and retries
    executor: str = "inprocess"        # "inprocess", or "ray": shards run on the Ray cluster at ray_address
    ray_address: str | None = None
    ray_replicas: int = 0              # model replicas per catalog entry on the Ray cluster; 0: as many as it holds
