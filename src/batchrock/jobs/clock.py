"""The clock seam: real time in production, a settable clock in tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


def _to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """UTC now, truncated to milliseconds: the precision the API reports and filters on."""

    def now(self) -> datetime:
        return _to_millis(datetime.now(UTC))


class OffsetClock:
    """Real time shifted by an adjustable offset, so a test can jump hours ahead of a live server."""

    def __init__(self, offset: timedelta = timedelta()) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return _to_millis(datetime.now(UTC) + offset)


class FileOffsetClock:
    """Real time plus a number of seconds read from a file: lets a test move a live server's
    clock (expiry, timeouts) from outside the process. Enabled only by an explicit setting."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        try:
            offset = float(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
        return _to_millis(datetime.now(UTC) + timedelta(seconds=offset))
