"""One frozen settings object for the server and its workers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_REGION = "us-east-1"
# The account of an access key that is not 12 digits (until a credentials file maps it).
DEFAULT_ACCOUNT_ID = "000000000000"
DEFAULT_TIMEOUT_HOURS = 168
DEFAULT_PAGE_SIZE = 100
MAX_TAGS_PER_RESOURCE = 50
MAX_BODY_BYTES = 1024 * 1024


def default_data_dir() -> Path:
    return Path(os.environ.get("BATCHROCK_DATA_DIR", Path.home() / ".batchrock"))


@dataclass(frozen=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    default_timeout_hours: int = DEFAULT_TIMEOUT_HOURS
    default_account_id: str = DEFAULT_ACCOUNT_ID
    default_page_size: int = DEFAULT_PAGE_SIZE
    max_tags_per_resource: int = MAX_TAGS_PER_RESOURCE
    max_body_bytes: int = MAX_BODY_BYTES
    s3_endpoint_url: str | None = None
    catalog_path: Path | None = None
    run_worker: bool = True
    clock_offset_file: Path | None = None  # test hook: shifts the server's clock (see jobs/clock.py)
    credentials_file: Path | None = None
    allow_insecure: bool = False
    regions: frozenset[str] | None = None  # None: any region
    body_timeout_seconds: float = 30.0
    max_header_bytes: int = 16 * 1024
    storage_outage_seconds: float = 120.0
    keep_free_bytes: int = 64 * 1024 * 1024  # local buckets leave this much room for the job store
    max_connections: int = 1000
    max_connections_per_client: int = 256  # 0: no cap (behind a reverse proxy)
    header_timeout_seconds: float = 5.0  # a request head must be complete this long after its first byte
    idle_timeout_seconds: float = 5.0  # a new connection that sends nothing is closed after this
    keep_alive_seconds: float = 10.0  # a connection idle after a response is closed after this
    events_urls: tuple[str, ...] = ()  # receivers of job state-change events (docs/observability.md)
    events_secret: str | None = None  # signs them (HMAC-SHA256); None: unsigned
    events_retention_hours: float = 72.0  # an event no receiver took by then is dropped
    metrics_host: str = DEFAULT_HOST  # a worker's own /metrics (serve answers it on its API port)
    metrics_port: int | None = None  # None: a worker serves no /metrics

    def secret(self) -> bytes:
        """A per-data-dir secret (signs pagination tokens); created on first use."""
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return path.read_bytes()
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(32))
                handle.flush()
                os.fsync(handle.fileno())
        return path.read_bytes()
