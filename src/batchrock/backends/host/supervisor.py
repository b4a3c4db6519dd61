"""A backend run in a model host process, so that a crash in the model takes nothing else down.

The server side (``HostedBackend``) is a Backend like any other: the registry keeps one per
(backend, options), shared by every job, and the host builds its backend from the same typed
options. It starts its host on first use and keeps it, so the model stays loaded; requests
from any job and any thread go to the host as they come, each with an id, and results come
back by id. A supervisor thread reads the host's frames.

When the host dies:
  * every request still in flight is resent to a fresh host, started at once;
  * the requests that were inside the model at that moment become suspects (the host
    announces requests as they go in and answers them as they come out, in batches or one by
    one as a continuously batching model ends them, so that set is exact at any moment): from
    then on each runs alone, in a batch of its own, so a further crash names its culprit.
    Innocent suspects simply succeed, one at a time; other requests keep batching. Serial
    re-runs cost no extra crash per innocent record, where bisecting would crash the host (and
    reload the model) about log2(batch) times more;
  * a request that was inside the model for ``MAX_CRASHES`` host deaths becomes an error record
    (500, not retryable) saying how the host died;
  * a host that dies before it is ready, or keeps dying with nothing inside the model, cannot
    serve at all: the requests waiting for it fail with ``BackendFailed`` (exit status, a hint,
    its last log lines). A later call tries a fresh start.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from batchrock.backends.base import BackendError, BackendFailed, BackendOptions, GenerationRequest, GenerationResult
from batchrock.backends.host.process import HostExit, HostProcess, HostStartFailed
from batchrock.backends.host.wire import decode_result

log = logging.getLogger("batchrock.host")

MAX_CRASHES = 3
_MESSAGE_LIMIT = 2000  # Get's message holds 2048 characters

Outcome = GenerationResult | BackendError


@dataclass
class _Flight:
    request: GenerationRequest
    future: Future[Outcome]
    strikes: int = 0  # host deaths while this request was inside the model


class HostedBackend:
    def __init__(self, name: str, options: BackendOptions, max_crashes: int = MAX_CRASHES) -> None:
        self.name = name
        self.options = options
        self.max_crashes = max_crashes
        model_path = getattr(options, "model_path", None)
        self.label = f"{name} ({Path(model_path).name})" if model_path else name
        self.max_in_flight = options.max_in_flight  # None: the engine's --batch-size
        self.requests_per_call = options.requests_per_call or 1
        self._lock = threading.Condition()
        self._flights: dict[int, _Flight] = {}
        self._inside: set[int] = set()  # requests inside the model now: started, not yet done
        self._next_id = 0
        self._host: HostProcess | None = None
        self._idle_deaths = 0         # deaths in a row with no request inside the model
        self._start_failure: str | None = None
        self._closed = False
        self._supervisor: threading.Thread | None = None

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        futures = [asyncio.wrap_future(future) for future in self._submit(requests)]
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = next((result for result in results if isinstance(result, BackendFailed)), None)
        if failed is not None:
            raise failed
        return cast(list[Outcome], results)

    async def healthy(self) -> bool:
        """Down only while its last start failed; a crash mid-run is handled here, not by pausing."""
        return self._start_failure is None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            host, self._host = self._host, None
            self._lock.notify_all()
        if host is not None:
            host.stop()
        self._fail_all(f"The {self.label} backend was closed.")

    def _submit(self, requests: Sequence[GenerationRequest]) -> list[Future[Outcome]]:
        with self._lock:
            if self._closed:
                raise BackendFailed(f"The {self.label} backend was closed.")
            flights = {self._next_id + i: _Flight(request, Future()) for i, request in enumerate(requests)}
            self._next_id += len(flights)
            self._flights.update(flights)
            if self._host is not None:
                self._host.send(_run_frame(flights))
            self._ensure_supervisor()
        return [flight.future for flight in flights.values()]

    def _ensure_supervisor(self) -> None:
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, name=f"host-{self.name}", daemon=True)
            self._supervisor.start()
        self._lock.notify_all()

    def _supervise(self) -> None:
        while self._await_work():
            host = self._start_host()
            if host is not None:
                self._serve(host)
                self._after_death(host.wait())

    def _await_work(self) -> bool:
        with self._lock:
            while not self._flights and not self._closed:
                self._lock.wait()
            return not self._closed

    def _start_host(self) -> HostProcess | None:
        try:
            host = HostProcess.start(self.name, self.options, self.label)
        except HostStartFailed as failure:
            message = self._start_message(failure.exit)
            log.error("%s", message)
            self._fail_all(message)
            return None
        with self._lock:
            if self._closed:
                host.stop()
                return None
            self._host, self._start_failure = host, None
            if self._flights:
                host.send(_run_frame(self._flights))
        return host

    def _serve(self, host: HostProcess) -> None:
        while (frame := host.receive()) is not None:
            if frame["op"] == "started":
                with self._lock:
                    self._inside.update(frame["ids"])
            elif frame["op"] == "done":
                self._finish(frame["items"])

    def _finish(self, items: list[list[Any]]) -> None:
        with self._lock:
            done = [(self._flights.pop(ident).future, result) for ident, result in items if ident in self._flights]
            self._inside.difference_update(ident for ident, _ in items)
            self._idle_deaths = 0
        for future, result in done:
            _settle(future, decode_result(result))

    def _after_death(self, exit: HostExit) -> None:
        with self._lock:
            self._host = None
            if self._closed:
                return
            culprits = self._strike(exit)
            suspects, left = len(self._inside), len(self._flights)
            self._inside = set()
            self._idle_deaths = 0 if suspects else self._idle_deaths + 1
        log.error("%s: the model host %s; %d requests in flight go to a fresh host, and the %d that were inside the "
                  "model run one at a time from now on. Its last log lines:\n%s", self.label, exit.describe(), left,
                  suspects, "\n".join(exit.log_tail))
        for future, error in culprits:
            _settle(future, error)
        if self._idle_deaths >= self.max_crashes:
            self._fail_all(self._fit(f"The {self.label} model host died {self._idle_deaths} times in a row without "
                                     f"finishing a request; the last time it {exit.describe()}.{exit.hint()}", exit))

    def _strike(self, exit: HostExit) -> list[tuple[Future[Outcome], BackendError]]:
        """Count this death against the requests inside the model; those at the limit become errors."""
        culprits = []
        for ident in self._inside:
            flight = self._flights.get(ident)
            if flight is None:
                continue
            flight.strikes += 1
            if flight.strikes >= self.max_crashes:
                del self._flights[ident]
                culprits.append((flight.future, BackendError(
                    f"The {self.label} model host died {flight.strikes} times while running this record (the last time "
                    f"it {exit.describe()}); the record is not retried.{exit.hint()}", status=500, retryable=False)))
        return culprits

    def _start_message(self, exit: HostExit) -> str:
        return self._fit(f"The {self.label} model host could not start: it {exit.describe()} before it was ready."
                         f"{exit.hint()}", exit)

    def _fit(self, head: str, exit: HostExit) -> str:
        """The message and as much of the host's last log lines as fit in a job's message."""
        words = exit.last_words(_MESSAGE_LIMIT - len(head) - 25)
        return head + (f" Its last log lines:\n{words}" if words else "")

    def _fail_all(self, message: str) -> None:
        with self._lock:
            flights, self._flights, self._inside = list(self._flights.values()), {}, set()
            self._idle_deaths = 0
            if not self._closed:
                self._start_failure = message
        for flight in flights:
            _settle(flight.future, BackendFailed(message))


def _run_frame(flights: dict[int, _Flight]) -> dict[str, Any]:
    return {"op": "run", "items": [[ident, flight.request, flight.strikes > 0] for ident, flight in flights.items()]}


def _settle(future: Future[Outcome], outcome: Outcome | BackendFailed) -> None:
    try:
        if isinstance(outcome, BackendFailed):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:  # its caller went away (cancelled)
        pass
