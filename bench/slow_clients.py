"""Slow clients against the connection guard: what the attacker holds, what a normal client sees.

    python bench/slow_clients.py [--idle 1000] [--trickling 1000] [--seconds 15]

One server on the defaults (1000 connections, 256 per client address, 5 s header and idle
timeouts). Connections that send nothing and connections that send a header line a second come
from 127.0.0.2-9; a normal client on 127.0.0.1 sends signed GetModelInvocationJob calls, first
without the attack (the baseline), then during it. Prints, each second, the connections the
server holds for the attacker, then Get p50/p99 on one keep-alive connection and on a new
connection per call, and the ratio attack / baseline (the figure; the aim: answered, no 503,
p99 within a few times the baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import ServerProcess
from tests.support.slow_clients import SlowClients, addresses, established, raise_open_files

from bench.api_get import create_job, signed_get

NO_ANSWER = 0


async def read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    await reader.readexactly(int(lengths[0]) if lengths else 0)
    return int(head.split(b" ", 2)[1])


async def calls(port: int, request: bytes, seconds: float, fresh: bool) -> tuple[list[float], Counter[int]]:
    """Sequential Gets for ``seconds``: on one keep-alive connection, or a new one each (``fresh``)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    stop_at = time.perf_counter() + seconds
    connection = None
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            connection = connection or await asyncio.open_connection("127.0.0.1", port)
            connection[1].write(request)
            statuses[await asyncio.wait_for(read_status(connection[0]), 30)] += 1
            latencies.append(time.perf_counter() - started)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            statuses[NO_ANSWER] += 1
            connection = None
        if fresh and connection is not None:
            connection[1].close()
            connection = None
    return latencies, statuses


def figures(latencies: list[float], statuses: Counter[int]) -> tuple[float, float, str]:
    ordered = sorted(latencies) or [float("nan")]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    answers = " ".join(f"{status or 'none'}:{count}" for status, count in sorted(statuses.items()))
    return statistics.median(ordered) * 1000, p99 * 1000, answers


def measure(port: int, request: bytes, seconds: float) -> dict[str, tuple[float, float, str]]:
    return {mode: figures(*asyncio.run(calls(port, request, seconds / 2, mode == "new connection")))
            for mode in ("keep-alive", "new connection")}


def attacker(port: int, idle: int, trickling: int, counters: Any, stop: Any) -> None:
    """The attack, in a process of its own: its event loop must not hold up the measuring client."""
    raise_open_files(2 * (idle + trickling) + 1024)
    attack = SlowClients(port, deadline=600).add(addresses(2, 4), idle, trickle=False)
    attack.add(addresses(6, 4), trickling, trickle=True).start()
    while not stop.wait(0.2):
        counters[:] = [attack.opened, attack.closed_by_server]
    attack.stop()


def sample(port: int, counters: Any, stop: threading.Event, rows: list[str]) -> None:
    started = time.monotonic()
    while not stop.wait(1.0):
        held = sum(count for source, count in established(port).items() if source != "127.0.0.1")
        rows.append(f"  {time.monotonic() - started:5.0f} s  held {held:5d}  opened {counters[0]:6d}  "
                    f"closed by the server {counters[1]:6d}")


@contextlib.contextmanager
def attack_on(port: int, args: argparse.Namespace) -> Iterator[list[str]]:
    """Run the attack and sample what the server holds each second; yields the sample rows."""
    context = multiprocessing.get_context("spawn")
    counters, stop, sampling = context.Array("q", 2), context.Event(), threading.Event()
    rows: list[str] = []
    process = context.Process(target=attacker, args=(port, args.idle, args.trickling, counters, stop))
    sampler = threading.Thread(target=sample, args=(port, counters, sampling, rows))
    process.start()
    sampler.start()
    try:
        yield rows
    finally:
        sampling.set()
        sampler.join()
        stop.set()
        process.join(timeout=60)
        if process.is_alive():
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--trickling", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", extra_args=("--no-worker",)).start()
        try:
            request = signed_get(server.port, f"/model-invocation-job/{create_job(server.url).rsplit('/', 1)[1]}")
            baseline = measure(server.port, request, args.seconds)
            with attack_on(server.port, args) as rows:
                time.sleep(3)  # let the attack fill the table first
                during = measure(server.port, request, args.seconds)
        finally:
            server.stop()
    report(args, rows, baseline, during)


def report(args: argparse.Namespace, rows: list[str], baseline: dict[str, tuple[float, float, str]],
           during: dict[str, tuple[float, float, str]]) -> None:
    print(f"{args.idle} idle + {args.trickling} trickling connections from 127.0.0.2-9; server defaults")
    print("connections the server held for the attacker (its side, ESTABLISHED, the kernel's accept queue included):")
    print("\n".join(rows))
    print("GetModelInvocationJob from 127.0.0.1, sequential (answers by status; none: no answer)")
    for mode in baseline:
        (base50, base99, base_answers), (att50, att99, att_answers) = baseline[mode], during[mode]
        print(f"  {mode:15s} baseline p50 {base50:7.2f} ms  p99 {base99:7.2f} ms  {base_answers}")
        print(f"  {'':15s} attack   p50 {att50:7.2f} ms  p99 {att99:7.2f} ms  {att_answers}")
        print(f"  {'':15s} ratio attack/baseline  p50 {att50 / base50:.2f}  p99 {att99 / base99:.2f}")


if __name__ == "__main__":
    main()
