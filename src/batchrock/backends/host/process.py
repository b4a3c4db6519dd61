"""One model host child process: started, handed its backend, fed frames; its log kept.

The child is a fresh interpreter (``subprocess``, never a fork of the threaded server) that
imports the same batchrock as the server. Its stdout and stderr go to a pipe that a thread
drains into the last ``LOG_LINES`` lines, so a message about its death can quote them (with
the Python traceback ``faulthandler`` prints on a native crash).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import batchrock
from batchrock.backends.base import BackendOptions
from batchrock.backends.host.wire import Channel

log = logging.getLogger("batchrock.host")

LOG_LINES = 40
_DUMP_HEAD = 8  # of faulthandler's dump: its header and the innermost frames


@dataclass(frozen=True)
class HostExit:
    """How a host process ended, and what it printed last."""

    returncode: int
    log_tail: tuple[str, ...]

    @property
    def signal(self) -> signal.Signals | None:
        try:
            return signal.Signals(-self.returncode) if self.returncode < 0 else None
        except ValueError:
            return None

    def describe(self) -> str:
        sig = self.signal
        if self.returncode >= 0:
            return f"exited with code {self.returncode}"
        if sig is None:
            return f"was killed by signal {-self.returncode}"
        text = f"was killed by {sig.name} ({signal.strsignal(sig) or sig.name})"
        if sig is signal.SIGKILL:
            text += ", which is what the kernel's out-of-memory killer sends when memory runs out"
        return text

    def last_words(self, limit: int) -> str:
        """Its last log lines within ``limit`` characters. Of a crash dump only the head counts (the
        innermost frames come first); the lines printed before it fill the rest, latest first."""
        lines = list(self.log_tail)
        dump = max((i for i, line in enumerate(lines) if line.startswith("Fatal Python error")), default=len(lines))
        head = lines[dump : dump + _DUMP_HEAD]
        kept = _latest(lines[:dump], limit - sum(len(line) + 1 for line in head))
        return "\n".join(kept + head)[-limit:] if limit > 0 else ""

    def hint(self) -> str:
        if self.signal is signal.SIGILL:
            return (" SIGILL means the model library uses CPU instructions this machine lacks (llama.cpp built "
                    "natively on another CPU, or with `make setup LLAMA_NATIVE=1`): rebuild it portably with "
                    "`make setup` (the default, LLAMA_NATIVE=0; with pip: CMAKE_ARGS=-DGGML_NATIVE=OFF).")
        return ""


class HostStartFailed(Exception):
    def __init__(self, exit: HostExit) -> None:
        super().__init__(exit.describe())
        self.exit = exit


class HostProcess:
    def __init__(self, process: subprocess.Popen[bytes], channel: Channel, label: str) -> None:
        self.process = process
        self.channel = channel
        self.label = label
        self._tail: deque[str] = deque(maxlen=LOG_LINES)
        assert process.stdout is not None
        self._drain = threading.Thread(target=self._read_log, args=(process.stdout,), name=f"{label}-log", daemon=True)
        self._drain.start()

    @classmethod
    def start(cls, backend: str, options: BackendOptions, label: str) -> HostProcess:
        """Spawn, hand over the backend, and wait until it is ready; HostStartFailed if it dies first."""
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "batchrock.backends.host.child", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=_child_env(), start_new_session=True)
        finally:
            theirs.close()
        host = cls(process, Channel(ours), label)
        log.info("%s: started model host pid %d", label, process.pid)
        host._handshake(backend, options)
        return host

    def _handshake(self, backend: str, options: BackendOptions) -> None:
        with contextlib.suppress(OSError):  # it died already; the exit below says how
            self.channel.send({"op": "start", "backend": backend, "options": options})
        frame = self.channel.receive()
        if frame is None or frame.get("op") != "ready":
            raise HostStartFailed(self.wait())

    def send(self, frame: dict[str, Any]) -> None:
        """Send, or drop the frame if the host just died: the supervisor resends what it had in flight."""
        with contextlib.suppress(OSError):
            self.channel.send(frame)

    def receive(self) -> dict[str, Any] | None:
        return self.channel.receive()

    def wait(self) -> HostExit:
        """Once its end of the socket closed: the exit status and the last lines of its log."""
        self.channel.close()
        try:
            returncode = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # alive but silent: it cannot serve, so it goes
            self.process.kill()
            returncode = self.process.wait()
        self._drain.join(timeout=2)
        return HostExit(returncode, tuple(self._tail))

    def stop(self) -> None:
        self.channel.close()  # the host exits when its socket closes
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _read_log(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            self._tail.append(line)
            log.debug("%s: %s", self.label, line)
        stream.close()


def _latest(lines: list[str], room: int) -> list[str]:
    """The last of ``lines`` that fit in ``room`` characters."""
    kept: list[str] = []
    for line in reversed(lines):
        room -= len(line) + 1
        if room < 0:
            break
        kept.insert(0, line)
    return kept


def _child_env() -> dict[str, str]:
    """The server's environment, with the batchrock it runs first on the path (it may run from a checkout)."""
    source = str(Path(batchrock.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}
