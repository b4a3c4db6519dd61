"""Slow and idle clients, for the connection-guard tests and bench/slow_clients.py: sockets from
other loopback addresses (127.0.0.2 and up; Linux routes all of 127/8 to ``lo``) that send
nothing, or a request line and then a header line now and then."""

from __future__ import annotations

import asyncio
import resource
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REQUEST_LINE = b"GET /model-invocation-jobs HTTP/1.1\r\nhost: 127.0.0.1\r\n"


def addresses(first: int, count: int) -> list[str]:
    return [f"127.0.0.{first + i}" for i in range(count)]


def established(port: int) -> Counter[str]:
    """Connections the server holds on ``port`` (its side, ESTABLISHED), per client address."""
    held: Counter[str] = Counter()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if state == "01" and int(local.split(":")[1], 16) == port:
            held[socket.inet_ntoa(struct.pack("<I", int(remote.split(":")[0], 16)))] += 1
    return held


def raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


class SlowClients:
    """Connections that send nothing, or a request line then one header line every
    ``trickle_every`` seconds, from the given addresses; each is reopened ``reconnect_after``
    seconds after the server closes it, until ``drain`` or ``stop``. Runs its own event loop in
    a thread; every loop ends by ``deadline`` at the latest."""

    def __init__(self, port: int, trickle_every: float = 1.0, reconnect_after: float = 1.0, deadline: float = 120.0) -> None:
        self.port, self.trickle_every, self.reconnect_after = port, trickle_every, reconnect_after
        self.slots: list[tuple[str, bool]] = []
        self.open_now = self.opened = self.closed_by_server = self.failed = 0
        self.reconnecting, self.stopping = True, False
        self.deadline = time.monotonic() + deadline
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def add(self, sources: Sequence[str], count: int, trickle: bool) -> SlowClients:
        self.slots += [(sources[i % len(sources)], trickle) for i in range(count)]
        return self

    def start(self) -> SlowClients:
        self.thread.start()
        return self

    def drain(self) -> None:
        """Keep what is open (trickling on), but reopen nothing the server closes."""
        self.reconnecting = False

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(timeout=30)

    def _running(self) -> bool:
        return not self.stopping and time.monotonic() < self.deadline

    async def _main(self) -> None:
        await asyncio.gather(*(self._slot(source, trickle) for source, trickle in self.slots))

    async def _slot(self, source: str, trickle: bool) -> None:
        while self._running():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(source, 0))
            except OSError:
                self.failed += 1
            else:
                await self._hold(reader, writer, trickle)
            if not self.reconnecting:
                return
            await asyncio.sleep(self.reconnect_after)

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trickle: bool) -> None:
        self.opened += 1
        self.open_now += 1
        try:
            if trickle:
                writer.write(REQUEST_LINE)
            while self._running():
                try:
                    if await asyncio.wait_for(reader.read(4096), self.trickle_every) == b"":
                        self.closed_by_server += 1
                        return
                except TimeoutError:
                    if trickle:
                        writer.write(b"x-slow: 1\r\n")
                except OSError:
                    self.closed_by_server += 1
                    return
        finally:
            self.open_now -= 1
            writer.close()
