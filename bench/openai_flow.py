"""Flow through the ``openai`` backend: a whole batchrock job against the fastest plain client,
on the same records with the same number of requests in flight, in one run.

The server is the labelled instrument ``bench/gpu_server.py``: a continuous-batching GPU server
with W slots (request time = prefill + per-token cost x output length, a quarter of the prompts
running to max_tokens). For W = 32 and W = 128:

(a) the baseline: plain asyncio streams and aiohttp, each keeping W requests in flight over W
    keep-alive connections; the faster one is the baseline;
(b) a real ``batchrock serve`` with a catalog mapping the model to the ``openai`` backend,
    ``max_in_flight = W``, running one job over the same records, timed from CreateModelInvocationJob
    until Get says Completed (validation, scheduling and writing the output included).

    python bench/openai_flow.py [--records 4000] [--max-tokens 64] [--windows 32,128]

Prints records/s of each, the ratio job/baseline (target >= 0.9), the ideal (W slots never
idle), and the instrument's own ceiling (no model time), which must be far above them. "at
server" rates count from the first request's arrival to the last answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.support.catalogs import openai_catalog  # noqa: E402
from tests.support.clients import bedrock  # noqa: E402
from tests.support.jobs import claude_input, create_job, wait_for, write_jsonl  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

from bench.gpu_server import GpuServerProcess, output_length  # noqa: E402

PATH = "/v1/chat/completions"
TOPICS = ["rivers", "prime numbers", "bread", "volcanoes", "chess", "owls", "glass", "tides", "maps", "bees"]


@dataclass(frozen=True)
class Bench:
    max_tokens: int
    prefill_ms: float
    token_ms: float


@dataclass(frozen=True)
class Run:
    seconds: float
    tokens: int
    served_span: float  # first arrival to last answer, as the server saw it
    lead: float = 0.0  # start to the first arrival
    tail: float = 0.0  # last answer to the end

    def rate(self, records: int) -> float:
        return records / self.seconds


def prompts(count: int) -> list[str]:
    return [f"In one sentence, tell me a fact about {TOPICS[i % len(TOPICS)]} (record {i})." for i in range(count)]


def ideal_rate(texts: list[str], bench: Bench, window: int) -> float:
    """Records/s with every slot always busy."""
    busy = sum(bench.prefill_ms + bench.token_ms * output_length(text, bench.max_tokens) for text in texts) / 1000
    return len(texts) * window / busy


def bodies(texts: list[str], max_tokens: int) -> Iterator[bytes]:
    for text in texts:
        yield orjson.dumps({"model": "smollm2", "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens})


async def streams_client(url: str, texts: list[str], window: int, max_tokens: int) -> int:
    """W workers, each one HTTP/1.1 keep-alive connection on bare asyncio streams."""
    host, port = url.removeprefix("http://").split(":")
    shared = bodies(texts, max_tokens)  # one iterator: each worker takes the next body

    async def worker() -> int:
        reader, writer = await asyncio.open_connection(host, int(port))
        tokens = 0
        for body in shared:
            writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (PATH.encode(), host.encode(), len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            size = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            tokens += orjson.loads(await reader.readexactly(size))["usage"]["completion_tokens"]
        writer.close()
        return tokens

    return sum(await asyncio.gather(*(worker() for _ in range(window))))


async def aiohttp_client(url: str, texts: list[str], window: int, max_tokens: int) -> int:
    """W workers sharing one aiohttp session with W keep-alive connections."""
    shared = bodies(texts, max_tokens)
    connector = aiohttp.TCPConnector(limit=window)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        async def worker() -> int:
            tokens = 0
            for body in shared:
                async with session.post(PATH, data=body, headers={"Content-Type": "application/json"}) as response:
                    assert response.status == 200, response.status
                    tokens += orjson.loads(await response.read())["usage"]["completion_tokens"]
            return tokens

        return sum(await asyncio.gather(*(worker() for _ in range(window))))


Client = Callable[[str, list[str], int, int], Coroutine[Any, Any, int]]
CLIENTS: dict[str, Client] = {"asyncio streams": streams_client, "aiohttp": aiohttp_client}


def timed_client(client: Client, instrument: GpuServerProcess, texts: list[str], window: int, max_tokens: int) -> Run:
    instrument.reset()
    started = time.monotonic()
    tokens = asyncio.run(client(instrument.url, texts, window, max_tokens))
    return timed_run(started, time.monotonic() - started, tokens, instrument.stats())


def served_span(stats: dict[str, Any]) -> float:
    return float(stats["last_served"] - stats["first_arrival"])


def timed_run(started: float, seconds: float, tokens: int, stats: dict[str, Any]) -> Run:
    """Both clocks are time.monotonic(), one clock for every process of the machine."""
    return Run(seconds, tokens, served_span(stats), stats["first_arrival"] - started,
               started + seconds - stats["last_served"])


def timed_job(instrument: GpuServerProcess, texts: list[str], window: int, max_tokens: int, directory: Path) -> Run:
    catalog = openai_catalog(directory / "catalog.toml", instrument.url, "anthropic.claude-*", max_in_flight=window)
    server = ServerProcess(directory / "data", extra_args=("--catalog", str(catalog))).start()
    try:
        rows = [{"recordId": f"R{i:05d}", "modelInput": claude_input(text, max_tokens)} for i, text in enumerate(texts)]
        write_jsonl(server.data_dir / "buckets/bench/in/records.jsonl", rows)
        client = bedrock(server.url)
        instrument.reset()
        started = time.monotonic()
        finished = wait_for(client, create_job(client, "s3://bench/in/", "s3://bench/out/"), timeout=3600, watch=[server])
        elapsed = time.monotonic() - started
        assert finished["status"] == "Completed" and finished["errorRecordCount"] == 0, finished
        manifest = next((server.data_dir / "buckets/bench/out").rglob("manifest.json.out"))
        return timed_run(started, elapsed, json.loads(manifest.read_text())["outputTokenCount"], instrument.stats())
    finally:
        server.stop()


def instrument_ceiling(texts: list[str], window: int, max_tokens: int) -> float:
    """What the instrument serves with zero model time: far above the rates measured, or it is the bottleneck."""
    instrument = GpuServerProcess(window, 0, 0).start()
    try:
        started = time.monotonic()
        asyncio.run(streams_client(instrument.url, texts, window, max_tokens))
        return len(texts) / (time.monotonic() - started)
    finally:
        instrument.stop()


def measure(window: int, texts: list[str], bench: Bench) -> None:
    instrument = GpuServerProcess(window, bench.prefill_ms, bench.token_ms).start()
    try:
        clients = {name: timed_client(client, instrument, texts, window, bench.max_tokens) for name, client in CLIENTS.items()}
        with tempfile.TemporaryDirectory() as tmp:
            job = timed_job(instrument, texts, window, bench.max_tokens, Path(tmp))
    finally:
        instrument.stop()
    report(window, texts, bench, clients, job)


def report(window: int, texts: list[str], bench: Bench, clients: dict[str, Run], job: Run) -> None:
    count = len(texts)
    name, base = max(clients.items(), key=lambda item: item[1].rate(count))
    ideal = ideal_rate(texts, bench, window)
    print(f"\nW = {window}: {count} records, max_tokens {bench.max_tokens}, ideal {ideal:.1f} records/s")
    for label, run in clients.items():
        print(f"  {label + ':':<17} {run.rate(count):7.1f} records/s ({run.seconds:.2f} s, {run.tokens} tokens, "
              f"at server {count / run.served_span:.1f}/s)")
    print(f"  batchrock job:    {job.rate(count):7.1f} records/s ({job.seconds:.2f} s, {job.tokens} tokens, "
          f"at server {count / job.served_span:.1f}/s; first request after {job.lead:.2f} s, "
          f"Completed {job.tail:.2f} s after the last answer)")
    assert job.tokens == base.tokens, "the job and the baseline did different work"
    print(f"  ratio job/baseline ({name}) = {job.rate(count) / base.rate(count):.2f}"
          f" (at server {base.served_span / job.served_span:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--prefill-ms", type=float, default=20.0)
    parser.add_argument("--token-ms", type=float, default=10.0)
    parser.add_argument("--windows", default="32,128")
    args = parser.parse_args()
    bench = Bench(args.max_tokens, args.prefill_ms, args.token_ms)
    texts = prompts(args.records)
    windows = [int(w) for w in args.windows.split(",")]
    print(f"instrument: prefill {bench.prefill_ms} ms + {bench.token_ms} ms/token, a quarter to max_tokens")
    print(f"instrument ceiling (no model time, {max(windows)} in flight, plain client): "
          f"{instrument_ceiling(texts, max(windows), bench.max_tokens):.0f} records/s")
    for window in windows:
        measure(window, texts, bench)


if __name__ == "__main__":
    main()
