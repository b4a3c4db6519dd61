"""A labelled benchmark instrument: an OpenAI-compatible server that models a GPU server doing
continuous batching, so client-side throughput can be measured without a GPU.

The model: ``--slots`` sequences run at once (vLLM's ``--max-num-seqs``); a request beyond them
queues, first come first served. A request holds its slot for ``prefill`` plus ``per-token``
times its output length. The output length is drawn per prompt, seeded by the prompt, so every
client gets the same work: a quarter of the prompts run to ``max_tokens``, the rest stop early
(length ~ max_tokens x u^2, most of them short). The per-token cost does not grow with the batch:
what is under test is whether a client keeps the slots full, not how a GPU scales.

    python bench/gpu_server.py --port 8000 --slots 128 [--prefill-ms 20] [--token-ms 10]

or ``GpuServerProcess(slots=128).start()`` from a benchmark or a test. GET /stats answers what it
saw since POST /stats/reset: requests served, the most open at once (queued or running), the
client connections, the prompts in arrival order (the last 10,000), and when the first came and
the last was answered (time.monotonic()).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aiohttp import web

EARLY_STOP_SHARE = 0.75


@dataclass(frozen=True)
class Timing:
    slots: int
    prefill_s: float
    token_s: float


@dataclass
class Stats:
    served: int = 0
    open: int = 0
    peak_open: int = 0
    first_arrival: float = 0.0  # time.monotonic() of the first request since the last reset
    last_served: float = 0.0
    peers: set[object] = field(default_factory=set)
    arrivals: deque[str] = field(default_factory=lambda: deque(maxlen=10_000))

    def as_dict(self) -> dict[str, Any]:
        return {"served": self.served, "open": self.open, "peak_open": self.peak_open,
                "connections": len(self.peers), "first_arrival": self.first_arrival,
                "last_served": self.last_served, "arrivals": list(self.arrivals)}


def output_length(prompt: str, max_tokens: int) -> int:
    """The same prompt always gets the same length; a quarter run to the limit."""
    rng = random.Random(hashlib.sha256(f"{max_tokens}:{prompt}".encode()).digest())
    if rng.random() >= EARLY_STOP_SHARE:
        return max_tokens
    return max(1, min(max_tokens - 1, int(max_tokens * rng.random() ** 2)))


def prompt_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        return "\n".join(str(message.get("content", "")) for message in body["messages"])
    return str(body.get("prompt", ""))


class GpuServer:
    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.stats = Stats()
        self._slots = asyncio.Semaphore(timing.slots)  # FIFO: requests beyond the slots queue in order

    async def generate(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        prompt, limit = prompt_of(body), int(body.get("max_tokens") or 16)
        length = output_length(prompt, limit)
        self._opened(prompt, request.transport.get_extra_info("peername") if request.transport else None)
        try:
            async with self._slots:
                await asyncio.sleep(self.timing.prefill_s + self.timing.token_s * length)
        finally:
            self.stats.open -= 1
        self.stats.served += 1
        self.stats.last_served = time.monotonic()
        return _json(answer(body, request.path, prompt, length, limit))

    def _opened(self, prompt: str, peer: object) -> None:
        stats = self.stats
        stats.peers.add(peer)
        stats.first_arrival = stats.first_arrival or time.monotonic()
        stats.open += 1
        stats.peak_open = max(stats.peak_open, stats.open)
        stats.arrivals.append(prompt[:80])

    async def models(self, request: web.Request) -> web.Response:
        return _json({"object": "list", "data": [{"id": "gpu-model", "object": "model", "owned_by": "bench"}]})

    async def show_stats(self, request: web.Request) -> web.Response:
        return _json(self.stats.as_dict())

    async def reset_stats(self, request: web.Request) -> web.Response:
        self.stats = Stats(open=self.stats.open)
        return _json({})

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/v1/chat/completions", self.generate), web.post("/v1/completions", self.generate),
                        web.get("/v1/models", self.models), web.get("/stats", self.show_stats),
                        web.post("/stats/reset", self.reset_stats)])
        return app


def answer(body: dict[str, Any], path: str, prompt: str, length: int, limit: int) -> dict[str, Any]:
    text = " ".join(["tok"] * length)
    finish = "length" if length >= limit else "stop"
    usage = {"prompt_tokens": len(prompt.split()) + 1, "completion_tokens": length,
             "total_tokens": len(prompt.split()) + 1 + length}
    if path.endswith("/chat/completions"):
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        kind = "chat.completion"
    else:
        choice, kind = {"index": 0, "text": text, "finish_reason": finish}, "text_completion"
    return {"id": "cmpl-bench", "object": kind, "created": int(time.time()), "model": body.get("model", "gpu-model"),
            "choices": [choice], "usage": usage}


def _json(payload: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


class GpuServerProcess:
    """The instrument in a process of its own, on a free loopback port."""

    def __init__(self, slots: int, prefill_ms: float = 20.0, token_ms: float = 10.0) -> None:
        self.args = ["--slots", str(slots), "--prefill-ms", str(prefill_ms), "--token-ms", str(token_ms)]
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> GpuServerProcess:
        self.process = subprocess.Popen([sys.executable, __file__, "--port", str(self.port), *self.args])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(self.url + "/v1/models", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the GPU server instrument did not start")

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(self.url + "/stats", timeout=10).json())

    def reset(self) -> None:
        httpx.post(self.url + "/stats/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--slots", type=int, default=128)
    parser.add_argument("--prefill-ms", type=float, default=20.0)
    parser.add_argument("--token-ms", type=float, default=10.0)
    args = parser.parse_args()
    server = GpuServer(Timing(args.slots, args.prefill_ms / 1000, args.token_ms / 1000))
    web.run_app(server.app(), host=args.host, port=args.port, print=None, access_log=None, backlog=1024)


if __name__ == "__main__":
    main()
