"""The live view of a job: a rich progress bar on a terminal, plain lines when piped."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from batchrock.api.wire import count_header
from batchrock.jobs.model import JobStatus
from batchrock.jobs.transitions import TERMINAL


@dataclass
class Snapshot:
    status: str
    total: int
    processed: int
    errors: int
    output_tokens: int
    job: dict[str, Any]

    @property
    def ended(self) -> bool:
        return JobStatus(self.status) in TERMINAL

    @classmethod
    def of(cls, job: dict[str, Any]) -> Snapshot:
        headers = job.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return cls(job["status"], job.get("totalRecordCount", 0), job.get("processedRecordCount", 0),
                   job.get("errorRecordCount", 0), int(headers.get(count_header("output_tokens"), 0)), job)


class Rates:
    """Records/s and tokens/s since the view started, and the ETA they imply."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first: Snapshot | None = None

    def line(self, now: Snapshot) -> str:
        self.first = self.first or now
        elapsed = max(time.monotonic() - self.started, 1e-6)
        records = (now.processed - self.first.processed) / elapsed
        tokens = (now.output_tokens - self.first.output_tokens) / elapsed
        left = now.total - now.processed
        eta = f"{left / records:.0f}s" if records > 0 and left > 0 else "-"
        return f"errors {now.errors}  {records:.1f} rec/s  {tokens:.1f} tok/s  ETA {eta}"


def watch(fetch: Callable[[], dict[str, Any]], interval: float = 0.5, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Poll ``fetch`` (a Get call) until the job ends; draw progress; return the final job."""
    if out.isatty():
        return _watch_bar(fetch, interval, out)
    return _watch_lines(fetch, max(interval, 1.0), out)


def _watch_bar(fetch: Callable[[], dict[str, Any]], interval: float, out: TextIO) -> dict[str, Any]:
    rates = Rates()
    columns = (TextColumn("[bold]{task.fields[status]:<18}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rates]}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(file=out), transient=False) as progress:
        task = progress.add_task("job", total=None, status="Submitted", rates="")
        while True:
            now = Snapshot.of(fetch())
            progress.update(task, total=now.total or None, completed=now.processed, status=now.status, rates=rates.line(now))
            if now.ended:
                return now.job
            time.sleep(interval)


def _watch_lines(fetch: Callable[[], dict[str, Any]], interval: float, out: TextIO) -> dict[str, Any]:
    rates, last = Rates(), None
    while True:
        now = Snapshot.of(fetch())
        line = f"{now.status}: {now.processed}/{now.total} records  {rates.line(now)}"
        if (now.status, now.processed) != last:
            print(line, file=out, flush=True)
            last = (now.status, now.processed)
        if now.ended:
            return now.job
        time.sleep(interval)
