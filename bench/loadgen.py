"""Benchmark instrument: a minimal keep-alive HTTP/1.1 load generator on asyncio streams.

It replays one pre-built request on N connections for a fixed time and records each
request's latency. It is shared by both sides of every comparison, so its own cost cancels
out in the ratios.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def _connection(host: str, port: int, request: bytes, stop_at: float, result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            if status >= 400:
                result.errors += 1
    finally:
        writer.close()


async def _run(host: str, port: int, request: bytes, concurrency: int, seconds: float) -> LoadResult:
    result = LoadResult(concurrency, 0, 0, seconds, [])
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_connection(host, port, request, stop_at, result) for _ in range(concurrency)))
    return result


def run_load(host: str, port: int, request: bytes, concurrency: int, seconds: float) -> LoadResult:
    return asyncio.run(_run(host, port, request, concurrency, seconds))


def summary(result: LoadResult) -> str:
    return (f"{result.rps:9.0f} req/s  p50 {result.percentile(0.5):7.2f} ms  p99 {result.percentile(0.99):7.2f} ms"
            f"  errors {result.errors}")


def median(values: list[float]) -> float:
    return statistics.median(values)
