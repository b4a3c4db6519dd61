"""Delivering job state-change events to the ``--events-url`` receivers.

Every status change writes its event into the job store's outbox in the change's own
transaction (``store.outbox``), whether or not a URL is configured: a restart that adds one, or
another process on the store that has one, sends what was recorded meanwhile. A loop in every
``batchrock serve`` and ``batchrock worker`` process sends them on, as a thread:

* one process at a time delivers: the holder of the store's delivery lease (renewed while it
  sends, released when it stops), so two processes never both send an event, and every
  receiver gets the events in the order they happened;
* each event is POSTed to each URL until the URL answers 2xx; the outbox records per URL who
  has it, so a retry goes only where it failed. A URL that fails backs off (0.5 s doubling to
  30 s, jittered) and gets nothing newer meanwhile, which keeps its order; the others go on;
* delivery is at least once: a process that dies after a receiver took an event and before
  the outbox recorded it sends it again; receivers drop repeats by the event's ``id``;
* the outbox is pruned every minute by every process: delivered events after an hour, and
  undelivered ones after ``--events-retention-hours`` (counted in ``batchrock_events_dropped``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import httpx

from batchrock.backoff import backoff, jittered
from batchrock.jobs.clock import Clock
from batchrock.jobs.store import EventOutbox, PendingEvent
from batchrock.observability.instruments import EVENT_DELIVERIES, EVENTS_DROPPED
from batchrock.observability.signing import event_headers
from batchrock.settings import Settings

log = logging.getLogger("batchrock.events")


@dataclass(frozen=True)
class DeliveryConfig:
    urls: tuple[str, ...] = ()
    secret: bytes | None = None
    keep_undelivered: timedelta = timedelta(hours=72)
    keep_delivered: timedelta = timedelta(hours=1)
    poll_seconds: float = 0.5
    lease_seconds: float = 30.0
    timeout_seconds: float = 10.0
    prune_seconds: float = 60.0
    batch: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        secret = settings.events_secret.encode() if settings.events_secret else None
        return cls(settings.events_urls, secret, timedelta(hours=settings.events_retention_hours))


def _shown(url: str) -> str:
    """A URL for the log, without the credentials or query a receiver may have put in it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


def url_key(url: str) -> str:
    """How the outbox names a URL among those an event reached (a URL may hold a token)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass
class _Receiver:
    url: str
    retry_at: float = 0.0  # time.monotonic(); before it, the receiver is backing off
    delays: Iterator[float] = field(default_factory=lambda: backoff(0.5, 30.0))

    def failed(self) -> float:
        delay = jittered(next(self.delays))
        self.retry_at = time.monotonic() + delay
        return delay

    def succeeded(self) -> None:
        self.retry_at = 0.0
        self.delays = backoff(0.5, 30.0)


class EventDelivery:
    def __init__(self, outbox: EventOutbox, config: DeliveryConfig, clock: Clock) -> None:
        self.outbox = outbox
        self.config = config
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._receivers = {url_key(url): _Receiver(url) for url in dict.fromkeys(config.urls)}
        self._client = httpx.Client(timeout=config.timeout_seconds)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_prune = 0.0
        self._held_at = -float("inf")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="batchrock-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            if self._receivers:
                self.outbox.release_delivery(self.holder)
        except Exception as error:  # it lapses instead
            log.warning("events: could not release the delivery lease: %s", error)
        self._client.close()

    def wake(self) -> None:
        """Look for events now (a job was just created) rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        trouble: str | None = None
        while not self._stop.is_set():
            try:
                self.turn()
                trouble = None
            except Exception as error:  # the store unreachable or unwritable: try again next turn
                if str(error) != trouble:  # one line per new problem, not one per turn
                    log.warning("events: delivery turn failed (the events wait in the store): %s", error)
                trouble = str(error)
            self._wake.wait(self.config.poll_seconds)
            self._wake.clear()

    def turn(self) -> None:
        """Prune when due; then, holding the lease, send each ready receiver the oldest events it
        lacks, in order, up to its first failure (nothing newer overtakes what it lacks)."""
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + self.config.prune_seconds
            self._prune()
        ready = [key for key, receiver in self._receivers.items() if receiver.retry_at <= time.monotonic()]
        if not ready or not self.outbox.pending_events(1) or not self._hold():  # no lease taken while idle
            return
        for key in ready:
            # read while holding the lease: what a previous holder sent before letting go is marked by now
            for event in self.outbox.pending_events(self.config.batch, missing=key):
                if self._stop.is_set() or not self._hold() or not self._deliver(event, key):
                    break

    def _hold(self) -> bool:
        """Take or renew the delivery lease, at most every third of its length while sending."""
        if time.monotonic() - self._held_at < self.config.lease_seconds / 3:
            return True
        now = self.clock.now()
        if not self.outbox.hold_delivery(self.holder, now, now + timedelta(seconds=self.config.lease_seconds)):
            self._held_at = -float("inf")
            return False
        self._held_at = time.monotonic()
        return True

    def _deliver(self, event: PendingEvent, key: str) -> bool:
        """POST the event to one receiver and record that it has it; False when it did not take it."""
        if not self._post(self._receivers[key], event):
            return False
        reached = event.delivered_to | {key}
        self.outbox.mark_delivered(event.seq, reached, self._receivers.keys() <= reached, self.clock.now())
        return True

    def _post(self, receiver: _Receiver, event: PendingEvent) -> bool:
        headers = event_headers(event.event_id, event.body, self.config.secret, time.time())
        try:
            answer = self._client.post(receiver.url, content=event.body, headers=headers)
            problem = None if answer.is_success else f"it answered {answer.status_code}"
        except httpx.HTTPError as error:
            problem = f"{type(error).__name__}: {error}"
        if problem is None:
            EVENT_DELIVERIES.labels("ok").inc()
            receiver.succeeded()
            return True
        EVENT_DELIVERIES.labels("failed").inc()
        log.warning("events: %s did not take event %s (%s); retrying in %.1f s",
                    _shown(receiver.url), event.event_id, problem, receiver.failed())
        return False

    def _prune(self) -> None:
        dropped = self.outbox.prune_events(self.clock.now(), self.config.keep_delivered, self.config.keep_undelivered)
        if dropped:
            EVENTS_DROPPED.inc(dropped)
            log.warning("events: dropped %d events no receiver took within %s", dropped, self.config.keep_undelivered)
