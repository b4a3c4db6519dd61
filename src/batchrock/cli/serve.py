"""``batchrock serve``: the control plane (and, with the execution engine, its default worker)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from batchrock.runtime import Runtime
from batchrock.settings import DEFAULT_HOST, DEFAULT_PORT, Settings, default_data_dir

EXAMPLE = """example:
  batchrock serve --port 8787 --data-dir ./data
  aws bedrock list-model-invocation-jobs --endpoint-url http://127.0.0.1:8787
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Bedrock-compatible job API server",
        description="Run the HTTP server that answers the Bedrock model invocation job API.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to bind (default {DEFAULT_PORT})")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the job store and local buckets live (default ~/.batchrock)")
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL of the job store (default: SQLite in the data dir)")
    parser.add_argument("--default-timeout-hours", type=int, default=168, help="timeoutDurationInHours when a job omits it (24..168, default 168)")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(run=run)


def settings_from(args: argparse.Namespace) -> Settings:
    if not 24 <= args.default_timeout_hours <= 168:
        raise SystemExit("batchrock serve: --default-timeout-hours must be between 24 and 168")
    return Settings(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir or default_data_dir(),
        database_url=args.database_url,
        default_timeout_hours=args.default_timeout_hours,
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = Runtime.build(settings_from(args))
    try:
        uvicorn.run(runtime.app(), host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    finally:
        runtime.close()
    return 0
