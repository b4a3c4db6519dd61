"""Fault injection in front of a real OpenAI-compatible server (a labelled test instrument).

Real servers rarely answer 429 or malformed JSON on demand, so this proxy forwards to the real
server and, as told, answers 429/503, hangs, returns malformed JSON, rejects (400) or fails (500) requests
carrying a marker, or goes away entirely.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.server import free_port


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.mode = "ok"           # ok | 429 | 503 | hang | malformed
        self.faults_left = 0       # how many requests get the fault before answering normally again
        self.reject_marker = "REJECT_ME"
        self.crash_marker = "CRASH_ME"  # the upstream fails this prompt with a 500, every time
        self.requests = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: Request) -> Response:
        self.requests += 1
        body = await request.body()
        if self.reject_marker.encode() in body:
            return Response(b'{"error": {"message": "the upstream refused this prompt"}}', status_code=400)
        if self.crash_marker.encode() in body:
            return Response(b'{"error": {"message": "the upstream crashed on this prompt"}}', status_code=500)
        if self.faults_left > 0 and self.mode != "ok":
            self.faults_left -= 1
            if self.mode in ("429", "503"):
                return Response(b'{"error": "busy"}', status_code=int(self.mode))
            if self.mode == "hang":
                await asyncio.sleep(30)
            if self.mode == "malformed":
                return Response(b'{"choices": [', status_code=200, media_type="application/json")
        async with httpx.AsyncClient(timeout=120) as client:
            answer = await client.request(request.method, self.upstream + request.url.path, content=body or None,
                                          headers={"content-type": "application/json"})
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    def start(self) -> FaultProxy:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def set(self, mode: str, count: int) -> None:
        self.mode, self.faults_left = mode, count

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *args: Any) -> None:
        self.stop()
