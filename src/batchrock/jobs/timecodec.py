"""Aware UTC datetimes to and from the integer microseconds the store keeps (and page tokens carry)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, tz=UTC).replace(microsecond=micros % 1_000_000)


def from_optional_micros(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def now_micros() -> int:
    return time.time_ns() // 1_000
