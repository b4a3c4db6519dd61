"""``batchrock serve``: the control plane (and, with the execution engine, its default worker)."""

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
from batchrock.settings import DEFAULT_HOST, DEFAULT_PORT, Settings, default_data_dir

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
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to bind (default {DEFAULT_PORT})")
    add_runtime_flags(parser)
    parser.add_argument("--allow-insecure", action="store_true",
                        help="allow a non-loopback address without a credentials file (anyone who reaches it gets in)")
    parser.add_argument("--max-connections", type=int, default=1000,
                        help="requests in progress before 503; also the open connections before the one idle longest "
                             "is closed to make room (default 1000)")
    parser.add_argument("--max-connections-per-client", type=int, default=256,
                        help="connections one client address (IPv6: one /64) may hold; 0: no cap, for a server "
                             "behind a reverse proxy (default 256)")
    parser.add_argument("--header-timeout-seconds", type=float, default=5.0,
                        help="time allowed from a request's first byte to the end of its headers (default 5)")
    parser.add_argument("--idle-timeout-seconds", type=float, default=5.0,
                        help="a new connection that sends nothing for this long is closed (default 5; "
                             "one idle after a response: 10)")
    parser.add_argument("--body-timeout-seconds", type=float, default=30.0,
                        help="time allowed to receive a request body (default 30)")
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
    parser.add_argument("--default-timeout-hours", type=int, default=168,
                        help="timeoutDurationInHours when a job omits it (24..168, default 168)")
    parser.add_argument("--s3-endpoint-url", default=os.environ.get("BATCHROCK_S3_ENDPOINT_URL"),
                        help="S3-compatible endpoint for s3:// URIs (default: local buckets in <data-dir>/buckets)")
    parser.add_argument("--storage-outage-seconds", type=float, default=120.0,
                        help="how long a job waits out an unreachable object store before failing (default 120)")
    parser.add_argument("--keep-free-bytes", type=int, default=64 * 1024 * 1024,
                        help="local buckets stop writing when the data dir would have less free space than this, "
                             "leaving it to the job store (default 64 MiB)")
    parser.add_argument("--credentials-file", type=Path, default=os.environ.get("BATCHROCK_CREDENTIALS_FILE"),
                        help="access keys, accounts, roles and bucket owners (TOML); without it: development mode")
    parser.add_argument("--regions", default=None, help="comma-separated regions to serve (default: any)")
    parser.add_argument("--catalog", type=Path, default=os.environ.get("BATCHROCK_CATALOG"),
                        help="model catalog TOML file (default: the built-in catalog)")
    parser.add_argument("--max-running-jobs", type=int, default=2, help="jobs InProgress at once in this process (default 2)")
    parser.add_argument("--lease-seconds", type=float, default=30.0,
                        help="a dead worker's job is resumed after this (default 30)")
    parser.add_argument("--part-bytes", type=int, default=8 * 1024 * 1024,
                        help="output buffered per checkpoint, written as one part object (default 8 MiB)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="records a job keeps in flight on a backend whose catalog entry sets no max_in_flight "
                             "(default 8)")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def settings_from(args: argparse.Namespace) -> Settings:
    if not 24 <= args.default_timeout_hours <= 168:
        raise SystemExit("batchrock serve: --default-timeout-hours must be between 24 and 168")
    clock_file = os.environ.get("BATCHROCK_TEST_CLOCK_FILE")
    return Settings(
        host=getattr(args, "host", DEFAULT_HOST),
        port=getattr(args, "port", DEFAULT_PORT),
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
        allow_insecure=getattr(args, "allow_insecure", False),
        regions=frozenset(args.regions.split(",")) if args.regions else None,
        max_connections=getattr(args, "max_connections", 1000),
        max_connections_per_client=getattr(args, "max_connections_per_client", 256),
        header_timeout_seconds=getattr(args, "header_timeout_seconds", 5.0),
        idle_timeout_seconds=getattr(args, "idle_timeout_seconds", 5.0),
        body_timeout_seconds=getattr(args, "body_timeout_seconds", 30.0),
    )


def engine_from(args: argparse.Namespace) -> EngineConfig:
    return EngineConfig(max_running_jobs=args.max_running_jobs, lease_seconds=args.lease_seconds,
                        part_bytes=args.part_bytes, batch_size=args.batch_size)


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
