"""``batchrock serve``: the control plane (and, with the execution engine, its default worker).

Every flag's default is the dataclass's own: ``Settings.port``, ``EngineConfig.batch_size`` (a
field with a plain default is also a class attribute), so a default is written once.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import os
import sys
from pathlib import Path

import uvicorn

from batchrock.api import connections
from batchrock.engine.config import EngineConfig
from batchrock.engine.lifecycle import resume_failed
from batchrock.jobs.clock import SystemClock
from batchrock.jobs.store import StoreUnwritable
from batchrock.runtime import Runtime
from batchrock.settings import Settings, default_data_dir

MIB = 1024 * 1024
# Flags of ``serve`` alone, named as Settings' fields: ``worker`` has none, and keeps Settings' defaults.
SERVE_ONLY = ("host", "port", "allow_insecure", "max_connections", "max_connections_per_client",
              "header_timeout_seconds", "idle_timeout_seconds", "body_timeout_seconds")
WORKER_ONLY = ("metrics_host", "metrics_port")  # serve answers /metrics on its own port

EXAMPLE = """example:
  batchrock serve --port 8787 --data-dir ./data
  aws bedrock list-model-invocation-jobs --endpoint-url http://127.0.0.1:8787
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Bedrock-compatible job API server",
        description="Run the HTTP server that answers the Bedrock model invocation job API.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=Settings.host, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=Settings.port, help="port to bind (default %(default)d)")
    add_runtime_flags(parser)
    parser.add_argument("--allow-insecure", action="store_true",
                        help="allow a non-loopback address without a credentials file (anyone who reaches it gets in)")
    parser.add_argument("--max-connections", type=int, default=Settings.max_connections,
                        help="requests in progress before 503; also the open connections before the one idle longest "
                             "is closed to make room (default %(default)d)")
    parser.add_argument("--max-connections-per-client", type=int, default=Settings.max_connections_per_client,
                        help="connections one client address (IPv6: one /64) may hold; 0: no cap, for a server "
                             "behind a reverse proxy (default %(default)d)")
    parser.add_argument("--header-timeout-seconds", type=float, default=Settings.header_timeout_seconds,
                        help="time allowed from a request's first byte to the end of its headers (default %(default)g)")
    parser.add_argument("--idle-timeout-seconds", type=float, default=Settings.idle_timeout_seconds,
                        help="a new connection that sends nothing for this long is closed (default %(default)g; "
                             f"one idle after a response: {Settings.keep_alive_seconds:g})")
    parser.add_argument("--body-timeout-seconds", type=float, default=Settings.body_timeout_seconds,
                        help="time allowed to receive a request body (default %(default)g)")
    parser.add_argument("--no-worker", action="store_true", help="serve the API only; run workers with `batchrock worker`")
    parser.add_argument("--resume-failed", action="store_true",
                        help="on start, resume every job that failed because storage was unreachable or its output check "
                             "failed (see `batchrock resume`)")
    parser.set_defaults(run=run)


def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``serve`` and ``worker``: where state lives and how jobs run."""
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the job store and local buckets live (default ~/.batchrock)")
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL of the job store (default: SQLite in the data dir)")
    parser.add_argument("--default-timeout-hours", type=int, default=Settings.default_timeout_hours,
                        help="timeoutDurationInHours when a job omits it (24..168, default %(default)d)")
    parser.add_argument("--s3-endpoint-url", default=os.environ.get("BATCHROCK_S3_ENDPOINT_URL"),
                        help="S3-compatible endpoint for s3:// URIs (default: local buckets in <data-dir>/buckets)")
    parser.add_argument("--storage-outage-seconds", type=float, default=Settings.storage_outage_seconds,
                        help="how long a job waits out an unreachable object store before failing "
                             "(default %(default)g)")
    parser.add_argument("--keep-free-bytes", type=int, default=Settings.keep_free_bytes,
                        help="local buckets stop writing when the data dir would have less free space than this, "
                             f"leaving it to the job store (default {Settings.keep_free_bytes // MIB} MiB)")
    parser.add_argument("--credentials-file", type=Path, default=os.environ.get("BATCHROCK_CREDENTIALS_FILE"),
                        help="access keys, accounts, roles and bucket owners (TOML); without it: development mode")
    parser.add_argument("--regions", default=None, help="comma-separated regions to serve (default: any)")
    parser.add_argument("--catalog", type=Path, default=os.environ.get("BATCHROCK_CATALOG"),
                        help="model catalog TOML file (default: the built-in catalog)")
    parser.add_argument("--max-running-jobs", type=int, default=EngineConfig.max_running_jobs,
                        help="jobs InProgress at once in this process (default %(default)d)")
    parser.add_argument("--lease-seconds", type=float, default=EngineConfig.lease_seconds,
                        help="a dead worker's job is resumed after this (default %(default)g)")
    parser.add_argument("--part-bytes", type=int, default=EngineConfig.part_bytes,
                        help="output buffered per checkpoint, written as one part object "
                             f"(default {EngineConfig.part_bytes // MIB} MiB)")
    parser.add_argument("--batch-size", type=int, default=EngineConfig.batch_size,
                        help="records a job keeps in flight on a backend whose catalog entry sets no max_in_flight "
                             "(default %(default)d)")
    parser.add_argument("--executor", choices=["inprocess", "ray"], default=EngineConfig.executor,
                        help="where a job's records run: in this process (default), or its shards on a Ray cluster "
                             "(pip install 'batchrock[ray]'; README, 'Scaling out')")
    parser.add_argument("--ray-address", default=os.environ.get("RAY_ADDRESS"),
                        help="the Ray cluster to join with --executor ray (default: RAY_ADDRESS, else a local one)")
    parser.add_argument("--ray-replicas", type=int, default=EngineConfig.ray_replicas,
                        help="model replicas per catalog entry on the Ray cluster, started by the first job and kept for "
                             "the next (default: as many as its resources hold)")
    parser.add_argument("--shard-records", type=int, default=EngineConfig.shard_records,
                        help="records per shard, the unit --executor ray schedules and retries (default %(default)d)")
    parser.add_argument("--events-url", action="append", default=[], metavar="URL",
                        help="POST a JSON event (Bedrock's EventBridge shape) to URL on every job status change; "
                             "repeat for several receivers (docs/observability.md)")
    parser.add_argument("--events-secret", default=os.environ.get("BATCHROCK_EVENTS_SECRET"),
                        help="sign events with HMAC-SHA256 under this secret (default: BATCHROCK_EVENTS_SECRET; "
                             "the variable keeps it out of the process list)")
    parser.add_argument("--events-retention-hours", type=float, default=Settings.events_retention_hours,
                        help="an event no receiver took within this is dropped (default %(default)g)")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def settings_from(args: argparse.Namespace) -> Settings:
    if not 24 <= args.default_timeout_hours <= 168:
        raise SystemExit("batchrock serve: --default-timeout-hours must be between 24 and 168")
    for url in args.events_url:
        if not url.startswith(("http://", "https://")):
            raise SystemExit(f"batchrock: --events-url must be an http:// or https:// URL, not {url!r}")
    clock_file = os.environ.get("BATCHROCK_TEST_CLOCK_FILE")
    return Settings(
        data_dir=args.data_dir or default_data_dir(),
        database_url=args.database_url,
        default_timeout_hours=args.default_timeout_hours,
        s3_endpoint_url=args.s3_endpoint_url,
        catalog_path=args.catalog,
        run_worker=not getattr(args, "no_worker", False),
        clock_offset_file=Path(clock_file) if clock_file else None,
        credentials_file=args.credentials_file,
        storage_outage_seconds=args.storage_outage_seconds,
        keep_free_bytes=args.keep_free_bytes,
        regions=frozenset(args.regions.split(",")) if args.regions else None,
        events_urls=tuple(args.events_url),
        events_secret=args.events_secret or None,
        events_retention_hours=args.events_retention_hours,
        **{name: getattr(args, name) for name in (*SERVE_ONLY, *WORKER_ONLY) if hasattr(args, name)},
    )


def engine_from(args: argparse.Namespace) -> EngineConfig:
    if args.shard_records < 1:
        raise SystemExit("batchrock: --shard-records must be at least 1")
    return EngineConfig(max_running_jobs=args.max_running_jobs, lease_seconds=args.lease_seconds,
                        part_bytes=args.part_bytes, batch_size=args.batch_size, shard_records=args.shard_records,
                        executor=args.executor, ray_address=args.ray_address, ray_replicas=args.ray_replicas)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_exposure(settings: Settings) -> None:
    """Refuse to expose development mode beyond this machine unless told explicitly."""
    if settings.credentials_file is not None:
        return
    if not is_loopback(settings.host) and not settings.allow_insecure:
        raise SystemExit(f"batchrock serve: refusing to listen on {settings.host} without --credentials-file "
                         "(development mode accepts any signature); pass --allow-insecure to do it anyway")
    print(f"batchrock: development mode on {settings.host}:{settings.port}: no credentials file, so any well-formed "
          "SigV4 signature is accepted and the account comes from the access key", file=sys.stderr, flush=True)


def build_runtime(settings: Settings, engine: EngineConfig, command: str) -> Runtime:
    try:
        runtime = Runtime.build(settings, engine)
    except StoreUnwritable as problem:
        raise SystemExit(f"batchrock {command}: {problem.reason}") from None
    if runtime.store.write_problem is not None:
        print(f"batchrock: {runtime.store.write_problem}: answering reads only; jobs wait until batchrock runs on a "
              "writable data dir", file=sys.stderr, flush=True)
    return runtime


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if min(args.header_timeout_seconds, args.idle_timeout_seconds) <= 0 or args.max_connections_per_client < 0:
        raise SystemExit("batchrock serve: the timeouts must be positive and --max-connections-per-client at least 0")
    settings = settings_from(args)
    check_exposure(settings)
    runtime = build_runtime(settings, engine_from(args), "serve")
    if args.resume_failed:
        for job_id in resume_failed(runtime.store, None, SystemClock().now()):
            print(f"batchrock: resuming job {job_id} (it failed on a storage error or its output check)",
                  file=sys.stderr, flush=True)
    try:
        app, protocol = connections.guard(runtime.app(), settings)
        # No WebSockets: the API has none, and an upgraded connection would leave the guard's table.
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, http=protocol,
                    ws="none", timeout_keep_alive=math.ceil(settings.keep_alive_seconds),
                    h11_max_incomplete_event_size=16 * 1024)
    finally:
        runtime.close()
    return 0
