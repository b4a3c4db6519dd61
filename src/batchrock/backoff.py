"""Exponential backoff, written once: the waits between attempts, and their jitter.

``backoff`` gives the nominal waits (what a log line or a deadline check names); ``jittered``
spreads one at random, so processes that failed together do not all come back together.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator


def backoff(first: float, cap: float = math.inf) -> Iterator[float]:
    """``first``, then twice the wait before, up to ``cap``; without end."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)


def jittered(delay: float, low: float = 0.5, high: float = 1.0) -> float:
    """``delay`` scaled by a random factor between ``low`` and ``high``."""
    return delay * random.uniform(low, high)
