"""The model host's wire protocol: length-prefixed JSON frames (msgspec) over a local socket pair.

Parent -> host
    {"op": "start", "backend": NAME, "options": {...}}       first, once: the backend's typed options
    {"op": "run", "items": [[ID, REQUEST, ALONE], ...]}       any time, any number in flight
Host -> parent
    {"op": "ready"}                                           the model is loaded and has decoded once
    {"op": "started", "ids": [ID, ...]}                       this batch is now inside the model
    {"op": "done", "items": [[ID, RESULT], ...]}              results of that batch

Every request carries its own id and results may come back in any order, so one host serves
single requests and whole batches from several jobs at once. ``ALONE`` asks the host to run
the request in a batch of its own (a suspect after a crash; see ``supervisor``). A REQUEST is
the GenerationRequest's fields (msgspec writes Structs and enums as they are); a RESULT is
``{"ok": {GenerationResult fields}}`` or ``{"error": [message, status, retryable]}``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any

import msgspec

from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult

_HEADER = struct.Struct(">I")
_ENCODER = msgspec.json.Encoder()


class Channel:
    """Frames over a connected socket; ``send`` may be called from any thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb")
        self._send_lock = threading.Lock()

    def send(self, frame: dict[str, Any]) -> None:
        body = _ENCODER.encode(frame)
        with self._send_lock:
            self.sock.sendall(_HEADER.pack(len(body)) + body)

    def receive(self) -> dict[str, Any] | None:
        """The next frame, or None once the other end is gone (a frame cut short counts as gone)."""
        try:
            header = self._reader.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return None
            body = self._reader.read(_HEADER.unpack(header)[0])
        except (OSError, ValueError):  # ValueError: closed under us by close()
            return None
        if len(body) < _HEADER.unpack(header)[0]:
            return None
        frame: dict[str, Any] = msgspec.json.decode(body)
        return frame

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._reader.close()
        self.sock.close()


def decode_request(data: dict[str, Any]) -> GenerationRequest:
    return msgspec.convert(data, GenerationRequest)


def encode_result(result: GenerationResult | BackendError) -> dict[str, Any]:
    if isinstance(result, BackendError):
        return {"error": [str(result), result.status, result.retryable]}
    return {"ok": result}


def decode_result(data: dict[str, Any]) -> GenerationResult | BackendError:
    if "error" in data:
        message, status, retryable = data["error"]
        return BackendError(message, status=status, retryable=retryable)
    return msgspec.convert(data["ok"], GenerationResult)
