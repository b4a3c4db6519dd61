"""The clock seam: real time in production; for tests, real time shifted by an offset read from a file."""

from __future__ import annotations

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
