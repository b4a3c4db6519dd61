"""A job as the console shows it, made from the API's own answers.

Pages and the live feed take their figures from what the Get and List handlers return (the
wire output, and the token counts Get sends as headers), never from a second reading of the
store: a page shows what ``aws bedrock get-model-invocation-job`` shows, member for member.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from batchrock import awsmodel
from batchrock.api.wire import count_header
from batchrock.jobs.model import COUNT_MEMBERS, JobStatus
from batchrock.jobs.transitions import STOPPABLE, TERMINAL

ABSENT = "—"


@lru_cache(maxsize=1)
def get_members() -> tuple[str, ...]:
    """Every member of GetModelInvocationJob's output, in the service model's order."""
    shape = awsmodel.load().model.operation_model("GetModelInvocationJob").output_shape
    return tuple(shape.members)


def show_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def show_value(value: Any) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, datetime):
        return show_time(value)
    if isinstance(value, list):
        return ", ".join(map(str, value)) or ABSENT
    return str(value)


def flattened(member: str, value: Any) -> Iterator[tuple[str, str]]:
    """``inputDataConfig`` -> (``inputDataConfig.s3InputDataConfig.s3Uri``, its text), ..."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from flattened(f"{member}.{key}", inner)
    else:
        yield member, show_value(value)


def counts_of(output: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, int]:
    """The six counts by member name: records from the output, tokens from Get's headers."""
    counts = {}
    for name, member in COUNT_MEMBERS.items():
        raw = output.get(member, headers.get(count_header(name)))
        if raw is not None:
            counts[member] = int(raw)
    return counts


def iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


@dataclass(frozen=True)
class JobView:
    job_id: str
    name: str
    status: str
    message: str | None
    model_id: str
    output_uri: str
    fields: tuple[tuple[str, str], ...]  # every Get member, nested ones flattened, as text
    counts: dict[str, int]
    submit_time: str | None  # ISO 8601, for the page's clock
    end_time: str | None

    @classmethod
    def of(cls, output: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> JobView:
        fields = tuple(pair for member in get_members() for pair in flattened(member, output.get(member)))
        return cls(str(output["jobArn"]).rsplit("/", 1)[1], str(output["jobName"]), str(output["status"]),
                   output.get("message"), str(output["modelId"]),
                   str(output["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]), fields,
                   counts_of(output, headers or {}), iso(output.get("submitTime")), iso(output.get("endTime")))

    @property
    def terminal(self) -> bool:
        return JobStatus(self.status) in TERMINAL

    @property
    def stoppable(self) -> bool:
        return JobStatus(self.status) in STOPPABLE

    @property
    def percent(self) -> int:
        total, processed = self.counts.get("totalRecordCount", 0), self.counts.get("processedRecordCount", 0)
        if total == 0:
            return 100 if self.status == JobStatus.COMPLETED.value else 0
        return min(100, processed * 100 // total)

    def field(self, path: str) -> str:
        return dict(self.fields).get(path, ABSENT)

    def live(self) -> dict[str, Any]:
        """What the pages poll: the figures, their text, and what the page does next."""
        return {"jobId": self.job_id, "status": self.status, "message": self.message, "terminal": self.terminal,
                "stoppable": self.stoppable, "percent": self.percent, "counts": self.counts,
                "fields": dict(self.fields), "submitTime": self.submit_time, "endTime": self.end_time}
