"""The one backoff: waits double from the first up to the cap; jitter keeps each within its bounds."""

from __future__ import annotations

from itertools import islice

from batchrock.backoff import backoff, jittered


def test_waits_double_up_to_the_cap() -> None:
    assert list(islice(backoff(0.5, cap=3.0), 6)) == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert list(islice(backoff(1.0), 4)) == [1.0, 2.0, 4.0, 8.0]


def test_jitter_stays_within_its_bounds() -> None:
    waits = [jittered(2.0) for _ in range(200)]
    assert all(1.0 <= wait <= 2.0 for wait in waits) and len(set(waits)) > 1
    assert all(1.0 <= jittered(2.0, 0.5, 1.5) <= 3.0 for _ in range(200))
