"""``batchrock worker``: more workers on the same job store, without the HTTP API."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from batchrock.cli.serve import add_runtime_flags, build_runtime, engine_from, settings_from
from batchrock.observability.metrics import MetricsServer
from batchrock.settings import Settings

EXAMPLE = """example:
  batchrock serve --data-dir /srv/batchrock --max-running-jobs 2
  batchrock worker --data-dir /srv/batchrock --max-running-jobs 2     # on the same machine
  batchrock worker --database-url postgresql+psycopg://... --s3-endpoint-url http://s3:9000   # elsewhere
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("worker", help="run extra workers that share the server's job store",
                                   description="Claim and run jobs from the job store that `batchrock serve` uses.",
                                   epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_runtime_flags(parser)
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics at http://METRICS_HOST:PORT/metrics (default: none)")
    parser.add_argument("--metrics-host", default=Settings.metrics_host,
                        help="address the metrics bind to (default %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from(args)
    runtime = build_runtime(settings, engine_from(args), "worker")
    worker = runtime.worker()
    events = runtime.event_delivery()
    metrics = None if settings.metrics_port is None else MetricsServer(runtime, settings.metrics_host, settings.metrics_port)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    events.start()
    worker.start()
    where = "" if metrics is None else f"; metrics at http://{settings.metrics_host}:{metrics.port}/metrics"
    print(f"batchrock worker {worker.deps.worker_id} running{where}; Ctrl-C to stop", flush=True)
    stopped.wait()
    worker.stop()
    events.stop()
    if metrics is not None:
        metrics.close()
    runtime.close()
    return 0
