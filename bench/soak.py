"""Soak: 50 jobs of 1,000 records back to back in one server process (echo backend).

    python bench/soak.py [--jobs 50] [--records 1000]

Prints the server's RSS and open file descriptors at the start and the end, and checks that
every job is Completed with every record.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.clients import bedrock  # noqa: E402
from tests.support.jobs import create_job, records, wait_for, write_jsonl  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402


def usage(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        catalog = str(ROOT / "tests/support/echo_catalog.toml")
        server = ServerProcess(Path(tmp) / "data", extra_args=("--catalog", catalog)).start()
        client = bedrock(server.url)
        write_jsonl(server.data_dir / "buckets/soak/in/a.jsonl", records(args.records))
        assert server.process is not None
        warm = wait_for(client, create_job(client, "s3://soak/in/", "s3://soak/warmup/"))
        assert warm["status"] == "Completed"
        start_rss, start_fds = usage(server.process.pid)
        started, failures = time.monotonic(), 0
        for index in range(args.jobs):
            job = wait_for(client, create_job(client, "s3://soak/in/", f"s3://soak/out{index}/"), timeout=600)
            if job["status"] != "Completed" or job["successRecordCount"] != args.records:
                failures += 1
        end_rss, end_fds = usage(server.process.pid)
        server.stop()
    print(f"{args.jobs} jobs x {args.records} records in {time.monotonic() - started:.0f} s, {failures} not Completed")
    print(f"server RSS: {start_rss:.0f} MB at start, {end_rss:.0f} MB at end ({end_rss - start_rss:+.0f} MB)")
    print(f"open file descriptors: {start_fds} at start, {end_fds} at end ({end_fds - start_fds:+d})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
