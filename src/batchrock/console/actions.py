"""The console's form posts: sign in and out, pick a region, create a job, stop a job.

Each arrives with its CSRF token already checked (``frame.Frame``) and answers with a redirect
(303), so reloading the page it leads to never posts again.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from batchrock import awsmodel
from batchrock.catalog import Catalog
from batchrock.console.forms import JobForm
from batchrock.console.frame import Frame, Visit
from batchrock.console.pages import Pages
from batchrock.console.session import ConsoleSession
from batchrock.errors import ServiceError

WRONG_KEY = "The access key or the secret is not right."


def safe_next(visit: Visit, wanted: str) -> str:
    """Where to go after signing in: a console path only (never another site: no open redirect)."""
    inside = wanted.startswith(visit.base + "/") and "//" not in wanted and "\\" not in wanted
    return wanted.removeprefix(visit.base) if inside else "/"


class Actions:
    def __init__(self, frame: Frame, pages: Pages, catalog: Catalog) -> None:
        self.frame = frame
        self.pages = pages
        self.catalog = catalog

    async def login(self, visit: Visit) -> Response:
        gate = self.frame.gate
        if gate.development:
            return visit.redirect("/")
        region = visit.form.get("region", "").strip() or visit.session.region
        if not gate.region_allowed(region):
            return self.pages.login_page(visit, f"This server does not serve the region {region}.", 400)
        signed_in = gate.sign_in(replace(visit.session, region=region), visit.form.get("access_key_id", "").strip(),
                                 visit.form.get("secret_access_key", ""))
        if signed_in is None:
            return self.pages.login_page(visit, WRONG_KEY, 401)
        signed_in.to_cookie(visit.request.session)
        return visit.redirect(safe_next(visit, visit.form.get("next", "")))

    async def logout(self, visit: Visit) -> Response:
        ConsoleSession.fresh(visit.session.region).to_cookie(visit.request.session)
        return visit.redirect("/login")

    async def region(self, visit: Visit) -> Response:
        region = visit.form.get("region", "").strip()
        if self.frame.gate.region_allowed(region):
            replace(visit.session, region=region).to_cookie(visit.request.session)
        return visit.redirect("/")

    async def create(self, visit: Visit) -> Response:
        form = JobForm.from_form(visit.form)
        try:
            params = form.checked_params(self.catalog)
            result = await run_in_threadpool(self.frame.call, visit, "CreateModelInvocationJob", params)
        except ServiceError as error:
            status = awsmodel.load().status_for(error.code, error.fallback_status)
            return self.pages.form_page(visit, form, f"{error.code}: {error.message}", status)
        return visit.redirect("/jobs/" + str(result.output["jobArn"]).rsplit("/", 1)[1])

    async def stop(self, visit: Visit) -> Response:
        job_id = visit.request.path_params["job_id"]
        await run_in_threadpool(self.frame.call, visit, "StopModelInvocationJob", {"jobIdentifier": job_id})
        return visit.redirect(f"/jobs/{job_id}")
