"""The jobs list's filters (from the page's query string) and one page of jobs, through the List
handler: the page and its live feed ask the same question and get the API's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlencode

from batchrock import awsmodel
from batchrock.console.frame import Frame, Visit
from batchrock.console.jobview import JobView
from batchrock.jobs.model import SortOrder

PAGE_SIZES = (10, 25, 50, 100)


def statuses() -> list[str]:
    return awsmodel.load().enum("ModelInvocationJobStatus")


@dataclass(frozen=True)
class ListFilters:
    status: str = ""
    name: str = ""
    order: str = SortOrder.DESCENDING.value
    size: str = str(PAGE_SIZES[1])
    token: str = ""  # the List API's nextToken: where this page starts

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ListFilters:
        defaults = cls()
        return cls(**{name: query.get(name, "").strip() or default for name, default in asdict(defaults).items()})

    def params(self) -> dict[str, Any]:
        """ListModelInvocationJobs' parameters (left to the API's validator to judge)."""
        params: dict[str, Any] = {"sortOrder": self.order,
                                  "maxResults": int(self.size) if self.size.isdigit() else self.size}
        optional = {"statusEquals": self.status, "nameContains": self.name, "nextToken": self.token}
        return {**params, **{member: value for member, value in optional.items() if value}}

    def query(self, **changes: str) -> str:
        """This filter's query string, with ``changes`` (the next page's token, say)."""
        values = asdict(replace(self, **changes))
        return urlencode({name: value for name, value in values.items() if value})


@dataclass(frozen=True)
class JobsPage:
    jobs: list[JobView]
    next_token: str | None


def list_jobs(frame: Frame, visit: Visit, filters: ListFilters) -> JobsPage:
    output = frame.call(visit, "ListModelInvocationJobs", filters.params()).output
    return JobsPage([JobView.of(summary) for summary in output["invocationJobSummaries"]], output.get("nextToken"))
