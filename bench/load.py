"""Load: 200 concurrent API clients (Get/List/Create mix) for 60 s while 3 jobs run.

    python bench/load.py [--clients 200] [--seconds 60] [--records 3000]

First the 3 jobs run alone (the baseline), then again under the API load. Prints requests,
errors, p50/p99 latency, and each job's duration with and without load (the slow-down factor),
checked against the stated bound (--max-slowdown, x1.5); exits 1 on any error or a job over it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.clients import bedrock  # noqa: E402
from tests.support.jobs import create_job, records, wait_for, write_jsonl  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

MODEL = "medium.model-v1"


def request_bytes(port: int, method: str, path: str, body: bytes = b"") -> bytes:
    url = f"http://127.0.0.1:{port}{path}"
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"} if body else {})
    SigV4Auth(Credentials("123456789012", "s"), "bedrock", "us-east-1").add_auth(request)
    head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


async def client_loop(port: int, arns: list[str], stop_at: float, latencies: list[float], errors: list[str],
                      serial: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at:
            serial[0] += 1
            kind = serial[0] % 10
            if kind < 6:
                payload = request_bytes(port, "GET", f"/model-invocation-job/{arns[serial[0] % len(arns)].rsplit('/', 1)[1]}")
            elif kind < 9:
                payload = request_bytes(port, "GET", "/model-invocation-jobs?maxResults=20")
            else:
                body = json.dumps({"jobName": f"load-{uuid.uuid4().hex}", "roleArn": "arn:aws:iam::123456789012:role/r",
                                   "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                                   "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://nothing/in/"}},
                                   "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://nothing/out/"}}}).encode()
                payload = request_bytes(port, "POST", "/model-invocation-job", body)
            started = time.monotonic()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            header_lines = head.split(b"\r\n")
            length = next((int(line.split(b":")[1]) for line in header_lines if line.lower().startswith(b"content-length")), 0)
            await reader.readexactly(length)
            latencies.append(time.monotonic() - started)
            status = int(head.split(b" ")[1])
            if status >= 400:
                errors.append(head.split(b"\r\n")[0].decode())
    finally:
        writer.close()


async def load(port: int, arns: list[str], clients: int, seconds: float) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.monotonic() + seconds
    await asyncio.gather(*(client_loop(port, arns, stop_at, latencies, errors, [i * 7]) for i in range(clients)))
    return latencies, errors


def run_jobs(client: object, tag: str) -> list[str]:
    return [create_job(client, "s3://load/in/", f"s3://load/{tag}{i}/", model=MODEL) for i in range(3)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--max-slowdown", type=float, default=1.5,
                        help="the stated bound: no job may run more than this many times slower under load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", extra_args=("--catalog", str(ROOT / "tests/support/echo_catalog.toml"),
                                                               "--max-running-jobs", "3")).start()
        client = bedrock(server.url)
        write_jsonl(server.data_dir / "buckets/load/in/a.jsonl", records(args.records))
        durations = {}
        for phase in ("alone", "under load"):
            arns = run_jobs(client, phase.replace(" ", ""))
            if phase == "under load":
                latencies, errors = asyncio.run(load(server.port, arns, args.clients, args.seconds))
            jobs = [wait_for(client, arn, timeout=900) for arn in arns]
            assert all(job["status"] == "Completed" for job in jobs), [job["status"] for job in jobs]
            durations[phase] = [(job["endTime"] - job["submitTime"]).total_seconds() for job in jobs]
        server.stop()
    ordered = sorted(latencies)
    print(f"{args.clients} clients for {args.seconds:.0f} s while 3 jobs of {args.records} records ran")
    print(f"requests {len(latencies)}  errors {len(errors)}  p50 {statistics.median(ordered) * 1000:.1f} ms  "
          f"p99 {ordered[int(0.99 * len(ordered))] * 1000:.1f} ms")
    factors = [loaded / alone for alone, loaded in zip(durations["alone"], durations["under load"], strict=True)]
    for index, (alone, factor) in enumerate(zip(durations["alone"], factors, strict=True)):
        print(f"job {index}: {alone:.1f} s alone, {alone * factor:.1f} s under load (x{factor:.2f})")
    within = max(factors) <= args.max_slowdown
    print(f"slowest job x{max(factors):.2f}: {'within' if within else 'OVER'} the stated bound of x{args.max_slowdown:.2f}")
    if errors:
        print("first errors:", errors[:5])
    sys.exit(0 if within and not errors else 1)


if __name__ == "__main__":
    main()
