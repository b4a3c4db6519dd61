"""The model host process: ``python -m batchrock.backends.host.child FD``.

It runs one in-process backend (llama.cpp, transformers, MiniLM, ...) for the server, which
talks to it over the socket ``FD`` (see ``wire``). Start-up is: read the start frame, build
the backend, warm it up (load the model and decode once, so a model that cannot run on this
machine fails here, named as a start failure), say ready. Then a reader thread queues every
request as it arrives, and the main thread feeds the model:

  * a backend that batches continuously (``base.ContinuousBackend``, llama.cpp) is stepped:
    queued requests are admitted into its free slots as soon as slots free (waiting only while
    nothing runs), and each step's finished requests are answered at once, so a short request
    never waits for a long one. An ``alone`` request waits until no slot is busy, then runs by
    itself, and nothing else is admitted until it ends;
  * any other backend gets everything queued at once, up to ``cap`` requests, one batch at a
    time (an ``alone`` request is a batch by itself).

Requests are announced (``started``) before they go into the model and answered (``done``)
as they finish, so after a crash the server knows exactly which requests were inside it.

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

from batchrock.backends.base import Backend, BackendError, ContinuousBackend, GenerationRequest, GenerationResult
from batchrock.backends.host.wire import Channel, decode_request, encode_result
from batchrock.backends.registry import BackendRegistry

_DEFAULT_CAP = 64

Item = tuple[int, GenerationRequest, bool]  # id, request, alone
Outcome = GenerationResult | BackendError


class Inbox:
    """Requests waiting for the model, taken in arrival order; an ``alone`` one is a batch by itself."""

    def __init__(self) -> None:
        self._items: deque[Item] = deque()
        self._ready = threading.Condition()

    def put(self, items: list[Item]) -> None:
        with self._ready:
            self._items.extend(items)
            self._ready.notify()

    def take(self, cap: int, wait: bool = True) -> list[Item]:
        """Up to ``cap`` requests in arrival order, or an ``alone`` one by itself. With ``wait``
        it blocks until there is one; without, it returns at once, and never an ``alone`` one
        (that one runs when the model is idle, which is when the caller waits)."""
        with self._ready:
            while wait and not self._items:
                self._ready.wait()
            if not self._items or cap <= 0:
                return []
            if self._items[0][2]:
                return [self._items.popleft()] if wait else []
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
    if isinstance(backend, ContinuousBackend):
        serve_continuously(channel, backend, inbox)
    else:
        serve_batches(channel, backend, inbox, cap)


def serve_batches(channel: Channel, backend: Backend, inbox: Inbox, cap: int) -> None:
    loop = asyncio.new_event_loop()
    while True:
        batch = inbox.take(cap)
        channel.send({"op": "started", "ids": [ident for ident, _, _ in batch]})
        results = run_batch(loop, backend, batch)
        items = [[ident, encode_result(result)] for (ident, _, _), result in zip(batch, results, strict=True)]
        channel.send({"op": "done", "items": items})


def serve_continuously(channel: Channel, backend: ContinuousBackend, inbox: Inbox) -> None:
    solo = False  # an alone request is inside: admit nothing until it ends
    while True:
        idle = not backend.busy
        solo = solo and not idle
        batch = [] if solo else inbox.take(backend.free_slots(), wait=idle)
        solo = solo or any(alone for _, _, alone in batch)
        finished = admit(channel, backend, batch)
        if backend.busy:
            finished += backend.step()
        if finished:
            channel.send({"op": "done", "items": [[ident, encode_result(result)] for ident, result in finished]})


def admit(channel: Channel, backend: ContinuousBackend, batch: list[Item]) -> list[tuple[Any, Outcome]]:
    """Put ``batch`` into free slots; the requests that failed at once, with their errors."""
    if not batch:
        return []
    channel.send({"op": "started", "ids": [ident for ident, _, _ in batch]})
    failed: list[tuple[Any, Outcome]] = []
    for ident, request, _ in batch:
        try:
            error = backend.admit(ident, request)
        except Exception as exception:  # as in-process: a failing request fails, retryably, not the host
            error = BackendError(f"backend error: {exception}", status=500, retryable=True)
        if error is not None:
            failed.append((ident, error))
    return failed


def start(channel: Channel, backends: BackendRegistry) -> tuple[Backend, int]:
    frame = channel.receive()
    if frame is None or frame.get("op") != "start":
        raise SystemExit("model host: no start frame from the server")
    options = backends.options_for(frame["backend"], frame["options"])
    backend = backends.create_local(frame["backend"], options)
    warm_up = getattr(backend, "warm_up", None)
    if warm_up is not None:
        warm_up()
    cap = int(getattr(backend, "parallel", _DEFAULT_CAP) if options.host_batch is None else options.host_batch)
    return backend, max(cap, 1)


def main(argv: list[str]) -> None:
    faulthandler.enable()  # a native crash leaves a Python traceback in the log the server keeps
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which shuts down in order
    channel = Channel(socket.socket(fileno=int(argv[0])))
    backend, cap = start(channel, BackendRegistry.from_entry_points())
    channel.send({"op": "ready"})
    serve(channel, backend, cap)


if __name__ == "__main__":
    main(sys.argv[1:])
