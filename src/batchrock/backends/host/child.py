"""The model host process: ``python -m batchrock.backends.host.child FD``.

It runs one in-process backend (llama.cpp, transformers, MiniLM, ...) for the server, which
talks to it over the socket ``FD`` (see ``wire``). Start-up is: read the start frame, build
the backend, warm it up (load the model and decode once, so a model that cannot run on this
machine fails here, named as a start failure), say ready. Then a reader thread queues every
request as it arrives, and the main thread hands the model everything queued at once, up to
``cap`` requests, one batch at a time. Each batch is announced (``started``) before it runs,
so after a crash the server knows which requests were inside the model.

The process ends when the server's end of the socket closes, whatever it was doing: no one
is left to read its answers.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import signal
import socket
import sys
import threading
from collections import deque
from typing import Any

from batchrock.backends import registry
from batchrock.backends.base import Backend, BackendError, GenerationRequest, GenerationResult
from batchrock.backends.host.wire import Channel, decode_request, encode_result

_DEFAULT_CAP = 64

Item = tuple[int, GenerationRequest, bool]  # id, request, alone


class Inbox:
    """Requests waiting for the model, taken in arrival order; an ``alone`` one is a batch by itself."""

    def __init__(self) -> None:
        self._items: deque[Item] = deque()
        self._ready = threading.Condition()

    def put(self, items: list[Item]) -> None:
        with self._ready:
            self._items.extend(items)
            self._ready.notify()

    def take(self, cap: int) -> list[Item]:
        with self._ready:
            while not self._items:
                self._ready.wait()
            if self._items[0][2]:
                return [self._items.popleft()]
            batch: list[Item] = []
            while self._items and len(batch) < cap and not self._items[0][2]:
                batch.append(self._items.popleft())
            return batch


def read_requests(channel: Channel, inbox: Inbox) -> None:
    while (frame := channel.receive()) is not None:
        if frame["op"] == "run":
            inbox.put([(ident, decode_request(data), bool(alone)) for ident, data, alone in frame["items"]])
    os._exit(0)  # the server is gone or closed this host


def run_batch(loop: asyncio.AbstractEventLoop, backend: Backend, batch: list[Item]) -> list[GenerationResult | BackendError]:
    try:
        return loop.run_until_complete(backend.generate([request for _, request, _ in batch]))
    except Exception as error:  # as in-process: a failing call fails its records, retryably, not the host
        return [BackendError(f"backend error: {error}", status=500, retryable=True)] * len(batch)


def serve(channel: Channel, backend: Backend, cap: int) -> None:
    inbox = Inbox()
    threading.Thread(target=read_requests, args=(channel, inbox), name="host-reader", daemon=True).start()
    loop = asyncio.new_event_loop()
    while True:
        batch = inbox.take(cap)
        channel.send({"op": "started", "ids": [ident for ident, _, _ in batch]})
        results = run_batch(loop, backend, batch)
        items = [[ident, encode_result(result)] for (ident, _, _), result in zip(batch, results)]
        channel.send({"op": "done", "items": items})


def start(channel: Channel) -> tuple[Backend, int]:
    frame = channel.receive()
    if frame is None or frame.get("op") != "start":
        raise SystemExit("model host: no start frame from the server")
    options: dict[str, Any] = frame["options"]
    backend = registry.create_local(frame["backend"], options)
    warm_up = getattr(backend, "warm_up", None)
    if warm_up is not None:
        warm_up()
    cap = int(options.get("host_batch", getattr(backend, "parallel", _DEFAULT_CAP)))
    return backend, max(cap, 1)


def main(argv: list[str]) -> None:
    faulthandler.enable()  # a native crash leaves a Python traceback in the log the server keeps
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which shuts down in order
    channel = Channel(socket.socket(fileno=int(argv[0])))
    backend, cap = start(channel)
    channel.send({"op": "ready"})
    serve(channel, backend, cap)


if __name__ == "__main__":
    main(sys.argv[1:])
