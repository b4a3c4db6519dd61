"""The connection guard: idle and slow clients cannot hold the server's connection slots.

uvicorn counts every open socket against ``limit_concurrency`` and times out only connections
kept alive after a response, so a client that opens sockets and sends nothing (or one header
line now and then) gets every other client a 503. The guard wraps the HTTP protocol class
uvicorn would pick (httptools or h11) and, per connection:

* closes a new connection that sends nothing for ``idle_timeout`` (one kept alive after a
  response: ``keep_alive``), and answers 408 and closes it when a request head is not complete
  ``header_timeout`` after its first byte;
* refuses a new connection from a client address (IPv6: its /64) already holding
  ``per_client`` connections;
* at ``max_connections`` open, makes room by closing the connection that has waited longest
  for a request.

Only requests being worked on count towards the 503 (``InFlightLimit``), so sockets that have
not sent a request, or are still sending its body, never turn a signed request away.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from batchrock.settings import Settings

log = logging.getLogger("batchrock.api.connections")


TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
REPORT_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class Limits:
    max_connections: int
    per_client: int  # 0: no cap (behind a reverse proxy every client has its address)
    idle_timeout: float
    header_timeout: float
    keep_alive: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.max_connections, settings.max_connections_per_client, settings.idle_timeout_seconds,
                   settings.header_timeout_seconds, settings.keep_alive_seconds)


def client_key(peername: Any) -> str:
    """The address a cap applies to: IPv4, or an IPv6 /64 (what one host or site usually gets)."""
    if not isinstance(peername, tuple):
        return "local"
    address = ipaddress.ip_address(peername[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


class Watch:
    """One admitted connection's clock: waiting for a request, reading its head, or busy."""

    def __init__(self, table: ConnectionTable, transport: asyncio.Transport, key: str) -> None:
        self.table, self.transport, self.key = table, transport, key
        self.timer: asyncio.TimerHandle | None = None
        self.reading_head = False

    def waiting(self, seconds: float) -> None:
        self.table.waiting.pop(self, None)
        self.table.waiting[self] = None  # to the back of the queue: shed last
        self.reading_head = False
        self._arm(seconds)

    def received(self, busy: bool) -> None:
        if busy:
            self.busy()
        elif not self.reading_head:
            self.reading_head = True  # the clock starts at the first byte and is not reset by later ones
            self._arm(self.table.limits.header_timeout)

    def busy(self) -> None:
        self.table.waiting.pop(self, None)
        self.reading_head = False
        self._disarm()

    def close(self) -> None:
        if self.reading_head and not self.transport.is_closing():
            self.transport.write(TIMED_OUT)
        self.busy()
        self.transport.close()

    def _expired(self) -> None:
        self.timer = None
        if self.reading_head:
            self.table.note("request heads timed out")  # idle ones are routine: kept-alive connections end so
        self.close()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class ConnectionTable:
    """Every admitted connection: how many each client holds, and which wait for a request."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.per_client: Counter[str] = Counter()
        self.open = 0
        self.waiting: dict[Watch, None] = {}  # insertion order: the longest waiting first
        self.counts: Counter[str] = Counter()
        self.reported_at = time.monotonic()

    def admit(self, transport: asyncio.Transport) -> Watch | None:
        key = client_key(transport.get_extra_info("peername"))
        if self.limits.per_client and self.per_client[key] >= self.limits.per_client:
            self.note("connections refused over the per-client cap")
            return None
        if self.open >= self.limits.max_connections and self.waiting:
            self.note("idle connections closed to make room")
            next(iter(self.waiting)).close()
        self.per_client[key] += 1
        self.open += 1
        watch = Watch(self, transport, key)
        watch.waiting(self.limits.idle_timeout)
        return watch

    def release(self, watch: Watch) -> None:
        watch.busy()
        self.open -= 1
        self.per_client[watch.key] -= 1
        if not self.per_client[watch.key]:
            del self.per_client[watch.key]

    def note(self, event: str) -> None:
        """Count what the guard did; say so at most once a minute (an attack would flood the log)."""
        self.counts[event] += 1
        if time.monotonic() - self.reported_at >= REPORT_EVERY_SECONDS:
            log.warning("connection guard, last %.0f s: %s", time.monotonic() - self.reported_at,
                        ", ".join(f"{count} {name}" for name, count in sorted(self.counts.items())))
            self.counts.clear()
            self.reported_at = time.monotonic()


class _Guarded:
    """Mixed into uvicorn's HTTP protocol class (``guarded_protocol``), ahead of it."""

    table: ClassVar[ConnectionTable]
    transport: asyncio.Transport
    cycle: Any  # uvicorn's RequestResponseCycle of the latest request, in both protocol classes
    watch: Watch | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self.watch = self.table.admit(transport)
        if self.watch is None:
            transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self.watch is not None and not self.transport.is_closing():
            self.watch.received(self._in_request())

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self.watch is None or self.transport.is_closing():
            return
        if self._in_request():
            self.watch.busy()  # a pipelined request started
        else:
            self.watch.waiting(self.table.limits.keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.watch is not None:
            self.table.release(self.watch)
            self.watch = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete


def guarded_protocol(limits: Limits) -> type[asyncio.Protocol]:
    """uvicorn's own choice of HTTP protocol class, guarded by one table for this server."""
    namespace = {"table": ConnectionTable(limits)}
    return type(f"Guarded{AutoHTTPProtocol.__name__}", (_Guarded, AutoHTTPProtocol), namespace)


class InFlightLimit:
    """503 once ``limit`` requests are being worked on. Open sockets do not count, nor do
    requests while they wait for the client to send their body (that is the body timeout's job)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit, self.in_flight = app, limit, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            return await _unavailable(send)
        self.in_flight += 1
        try:
            await self.app(scope, self._uncounted(receive), send)
        finally:
            self.in_flight -= 1

    def _uncounted(self, receive: Receive) -> Receive:
        async def waiting_for_the_client() -> Message:
            self.in_flight -= 1
            try:
                return await receive()
            finally:
                self.in_flight += 1

        return waiting_for_the_client


async def _unavailable(send: Send) -> None:
    body = orjson.dumps({"message": "Too many requests in progress; try again."})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-amzn-errortype", b"ServiceUnavailableException"),
               (b"x-amzn-requestid", str(uuid.uuid4()).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def raise_open_files(limits: Limits, spare: int = 256) -> None:
    """Let the process hold ``max_connections`` sockets and its own files (the soft limit is
    often 1024): past it, asyncio stops accepting connections for a second at a time."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.max_connections + spare
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < wanted:
            log.warning("open files limited to %d: fewer than --max-connections %d needs", raised, limits.max_connections)


def guard(app: ASGIApp, settings: Settings) -> tuple[ASGIApp, type[asyncio.Protocol]]:
    """The app and HTTP protocol class to give uvicorn, in place of its ``limit_concurrency``
    (which counts idle sockets towards its 503)."""
    limits = Limits.from_settings(settings)
    raise_open_files(limits)
    return InFlightLimit(app, limits.max_connections), guarded_protocol(limits)
