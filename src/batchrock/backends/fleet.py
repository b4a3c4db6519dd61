"""The servers behind one ``openai`` backend: which one takes each request, which are out, and
when they come back. A single ``base_url`` is a fleet of one.

Everything here runs on the backend's own event loop (``openai_compat._LoopThread``), so the
counts need no locks.

* Routing: a request goes to the server with the fewest requests in flight among those that are
  up (ties to the one sent the fewest so far), and waits while every one of them holds
  ``per_server`` requests.
* Take-out: a server that refuses or drops the connection, times out, or answers 503 is out at
  once, and the request goes straight to another server; the record's own retries are not
  touched while some server it has not tried is up. Any other 5xx may be the record's fault,
  so the server is probed first and taken out only if the probe fails too.
* Return: a server that is out is probed (GET /v1/models) in the background with backoff, and
  takes requests again as soon as it answers. Each take-out that follows another without a good
  answer in between starts that backoff from a longer wait, so a flapping server rests longer.
* The last server up is never taken out: with nowhere else to go, its requests fail as they
  would with one server (a retryable 503 for a refused connection), and the engine pauses the
  job. A fleet of one behaves exactly as a single server always has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp

from batchrock.backends.base import BackendError
from batchrock.backoff import backoff, jittered

# below the 5 s idle timeout of uvicorn (vLLM, SGLang, llama-cpp-python): we drop an idle connection
# before the server does, so a POST never goes out on a connection the server has just closed
_KEEPALIVE_SECONDS = 4.0
_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=5)
_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
_FIRST_PROBE_SECONDS = 0.25
_PROBE_CAP_SECONDS = 4.0
_MAX_STRIKES = 4  # a flapping server's first probe waits at most 2**3 x 0.25 s

Reply = tuple[int, bytes]  # a server's answer: status and body

log = logging.getLogger("batchrock.backends")


@dataclass(eq=False)
class Server:
    """One server of the fleet, as the router sees it."""

    url: str
    in_flight: int = 0
    sent: int = 0
    up: bool = True
    strikes: int = 0  # take-outs since its last good answer
    prober: asyncio.Task[None] | None = field(default=None, repr=False)


class Fleet:
    """Routes requests over ``urls``, at most ``per_server`` in flight on each."""

    def __init__(self, urls: Sequence[str], per_server: int, session: aiohttp.ClientSession) -> None:
        self.servers = [Server(url.rstrip("/")) for url in urls]
        self.per_server = per_server
        self.session = session
        self._waiters: list[asyncio.Future[None]] = []

    @classmethod
    def open(cls, urls: Sequence[str], per_server: int, headers: Mapping[str, str], timeout: float) -> Fleet:
        """One connection pool for the fleet; call it on the loop that will use it."""
        # one connection more than the limit per server: its health probe never waits behind generation
        connector = aiohttp.TCPConnector(limit=len(urls) * (per_server + 1), limit_per_host=per_server + 1,
                                         keepalive_timeout=_KEEPALIVE_SECONDS)
        session = aiohttp.ClientSession(connector=connector, headers=dict(headers),
                                        timeout=aiohttp.ClientTimeout(total=timeout))
        return cls(urls, per_server, session)

    async def send(self, path: str, body: bytes) -> Reply | BackendError:
        """POST to the least-loaded server that is up, and to the next one up while servers fail."""
        tried: set[Server] = set()
        failure: BackendError | None = None
        while (server := await self._slot(tried)) is not None:
            tried.add(server)
            try:
                outcome = await self._post(server, path, body)
            finally:
                self._free(server)
            if not isinstance(outcome, BackendError):
                return outcome
            failure = outcome
        return failure or BackendError("no server of the fleet is up", status=503, retryable=True)

    async def healthy(self) -> bool:
        """Probes every server now, taking out or bringing back each by its answer; True if any is up."""
        answers = await asyncio.gather(*(self._check(server) for server in self.servers))
        return any(answers)

    def sent(self) -> dict[str, int]:
        """Requests sent to each server so far, retries and re-sends included."""
        return {server.url: server.sent for server in self.servers}

    async def close(self) -> None:
        for server in self.servers:
            if server.prober is not None:
                server.prober.cancel()
        await self.session.close()

    async def _slot(self, tried: set[Server]) -> Server | None:
        """A place on the least-loaded server that is up and not yet tried; None when none is left."""
        while candidates := [server for server in self.servers if server.up and server not in tried]:
            free = [server for server in candidates if server.in_flight < self.per_server]
            if free:
                server = min(free, key=lambda each: (each.in_flight, each.sent))
                server.in_flight += 1
                server.sent += 1
                return server
            await self._changed()
        return None

    def _free(self, server: Server) -> None:
        server.in_flight -= 1
        self._wake()

    async def _post(self, server: Server, path: str, body: bytes) -> Reply | BackendError:
        """The server's answer, or the error that took it out (the request then goes elsewhere)."""
        try:
            async with self.session.post(server.url + path, data=body) as response:
                status, raw = response.status, await response.read()
        except _TRANSPORT_ERRORS as error:
            return self._take_out(server, f"unreachable: {describe(error)}")
        if status == 503 or (status >= 500 and self._replaceable(server) and not await self._probe(server)):
            return self._take_out(server, f"answered {status}")
        if status < 500:
            server.strikes = 0
        return status, raw

    async def _check(self, server: Server) -> bool:
        if await self._probe(server):
            self._bring_back(server)
            return True
        self._take_out(server, "failed its health probe")
        return False

    async def _probe(self, server: Server) -> bool:
        try:
            async with self.session.get(server.url + "/v1/models", timeout=_PROBE_TIMEOUT) as response:
                return response.status == 200
        except _TRANSPORT_ERRORS:
            return False

    def _replaceable(self, server: Server) -> bool:
        return any(other.up for other in self.servers if other is not server)

    def _take_out(self, server: Server, why: str) -> BackendError:
        """Out unless it is the last one up; the error its request fails with either way."""
        if server.up and self._replaceable(server):
            server.up = False
            server.strikes = min(server.strikes + 1, _MAX_STRIKES)
            log.warning("openai server %s is out (%s); probing it until it answers", server.url, why)
            server.prober = asyncio.get_running_loop().create_task(self._probe_until_up(server))
            self._wake()
        return BackendError(f"backend {why}", status=503, retryable=True)

    def _bring_back(self, server: Server) -> None:
        if not server.up:
            if server.prober is not None and server.prober is not asyncio.current_task():
                server.prober.cancel()
            server.up, server.prober = True, None
            log.warning("openai server %s is back", server.url)
            self._wake()

    async def _probe_until_up(self, server: Server) -> None:
        first = _FIRST_PROBE_SECONDS * 2 ** (server.strikes - 1)
        for delay in backoff(first, cap=max(first, _PROBE_CAP_SECONDS)):
            await asyncio.sleep(jittered(delay))
            if await self._probe(server):
                self._bring_back(server)
                return

    async def _changed(self) -> None:
        """Wait until a place frees or a server goes out or comes back."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def describe(error: BaseException) -> str:
    return str(error) or type(error).__name__  # a timeout's str() is empty
