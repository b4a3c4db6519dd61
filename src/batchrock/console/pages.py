"""The console's pages (GET): the jobs list, a job, its results, the new-job form, signing in;
and the JSON feed the pages poll for live figures.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from batchrock.catalog import Catalog
from batchrock.console.forms import JobForm, model_choices, role_choices
from batchrock.console.frame import Frame, Visit, json_response
from batchrock.console.jobview import JobView
from batchrock.console.listing import PAGE_SIZES, ListFilters, list_jobs, statuses
from batchrock.console.results import ERROR_ROWS, SCAN_BYTES, ResultsReader
from batchrock.jobs.model import InvocationType
from batchrock.security.credentials import CredentialsFile
from batchrock.storage.base import ObjectStore


def job_view(frame: Frame, visit: Visit) -> JobView:
    """The job in the path, as Get answers for the visitor's account (another account's: not found)."""
    result = frame.call(visit, "GetModelInvocationJob", {"jobIdentifier": visit.request.path_params["job_id"]})
    return JobView.of(result.output, result.headers)


class Pages:
    def __init__(self, frame: Frame, catalog: Catalog, objects: ObjectStore, credentials: CredentialsFile | None) -> None:
        self.frame = frame
        self.catalog = catalog
        self.objects = objects
        self.credentials = credentials

    def _render(self, visit: Visit, template: str, status: int = 200, **context: object) -> Response:
        return self.frame.renderer.page(visit.request, visit.session, visit.viewer, template, context, status)

    async def jobs(self, visit: Visit) -> Response:
        filters = ListFilters.from_query(visit.request.query_params)
        page = list_jobs(self.frame, visit, filters)
        return self._render(visit, "jobs.html", filters=filters, page=page, statuses=statuses(), sizes=PAGE_SIZES)

    async def job(self, visit: Visit) -> Response:
        return self._render(visit, "job.html", job=job_view(self.frame, visit))

    async def results(self, visit: Visit) -> Response:
        """The job's outputs as an HTML fragment the job page loads (storage may be slow: not in the page)."""
        job = job_view(self.frame, visit)
        reader = ResultsReader(self.objects, job.output_uri, job.job_id)
        results = await run_in_threadpool(reader.read, job.counts.get("errorRecordCount", 0))
        return self._render(visit, "results.html", job=job, results=results, error_rows=ERROR_ROWS,
                            scan_mib=SCAN_BYTES >> 20)

    async def new_job(self, visit: Visit) -> Response:
        return self.form_page(visit, JobForm())

    def form_page(self, visit: Visit, form: JobForm, problem: str | None = None, status: int = 200) -> Response:
        roles = self.credentials.current().roles.get(visit.owner.account_id, {}) if self.credentials else {}
        return self._render(visit, "new_job.html", status, form=form, problem=problem,
                            models=model_choices(self.catalog), roles=role_choices(list(roles), visit.owner.account_id),
                            free_roles=self.credentials is None, invocation_types=[kind.value for kind in InvocationType])

    async def login(self, visit: Visit) -> Response:
        if visit.viewer is not None:
            return RedirectResponse(visit.base + "/", status_code=303)
        return self.login_page(visit)

    def login_page(self, visit: Visit, problem: str | None = None, status: int = 200) -> Response:
        wanted = visit.request.query_params.get("next") or visit.form.get("next", "")
        return self._render(visit, "login.html", status, problem=problem, next=wanted,
                            regions=sorted(self.frame.settings.regions or ()))

    async def feed_jobs(self, visit: Visit) -> Response:
        page = list_jobs(self.frame, visit, ListFilters.from_query(visit.request.query_params))
        return json_response({"jobs": [job.live() for job in page.jobs], "nextToken": page.next_token})

    async def feed_job(self, visit: Visit) -> Response:
        return json_response(job_view(self.frame, visit).live())
