"""The web console at /console: a Starlette app of its own, mounted before the API's catch-all.

    /console/                      the jobs list (filter by status and name, sort, live progress)
    /console/jobs/new              the form to create a job          POST /console/jobs
    /console/jobs/{id}             a job: every Get member, live counts, rates, ETA
    /console/jobs/{id}/results     its error records, first records and manifest (an HTML fragment)
    /console/jobs/{id}/stop        POST: StopModelInvocationJob
    /console/login, /logout        signing in and out (with a credentials file)    /console/region: POST
    /console/api/jobs[/{id}]       the JSON the pages poll
    /console/static/...            the stylesheet and scripts
"""

from __future__ import annotations

from typing import Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from batchrock.catalog import Catalog
from batchrock.console.actions import Actions
from batchrock.console.frame import Frame
from batchrock.console.pages import Pages
from batchrock.console.session import COOKIE_NAME, SESSION_SECONDS, Gate, derived_key
from batchrock.console.views import STATIC, Renderer, SecurityHeaders
from batchrock.jobs.service import JobService
from batchrock.jobs.store import JobStore
from batchrock.security.credentials import CredentialsFile
from batchrock.settings import Settings
from batchrock.storage.base import ObjectStore

MOUNT = "/console"


class ConsoleParts(Protocol):
    """What the console uses of the runtime (structural, so ``console`` never imports ``runtime``)."""

    settings: Settings
    store: JobStore
    service: JobService
    catalog: Catalog
    objects: ObjectStore
    credentials: CredentialsFile | None


def console_secret(parts: ConsoleParts) -> bytes:
    """The data dir's secret; on a shared database, the store's, so every server on it accepts the cookie
    (as runtime does for pagination tokens)."""
    return parts.store.shared_secret("console") if parts.settings.database_url else parts.settings.secret()


def console_app(parts: ConsoleParts) -> Starlette:
    secret = console_secret(parts)
    frame = Frame(parts.settings, parts.service, Gate(parts.settings, parts.credentials, secret), Renderer())
    pages = Pages(frame, parts.catalog, parts.objects, parts.credentials)
    actions = Actions(frame, pages, parts.catalog)
    post = ["POST"]
    routes = [
        Route("/", frame.page(pages.jobs)),
        Route("/jobs/new", frame.page(pages.new_job)),
        Route("/jobs", frame.page(actions.create), methods=post),
        Route("/jobs/{job_id}", frame.page(pages.job)),
        Route("/jobs/{job_id}/results", frame.page(pages.results)),
        Route("/jobs/{job_id}/stop", frame.page(actions.stop), methods=post),
        Route("/login", frame.public(pages.login)),
        Route("/login", frame.public(actions.login), methods=post),
        Route("/logout", frame.page(actions.logout), methods=post),
        Route("/region", frame.page(actions.region), methods=post),
        Route("/api/jobs", frame.feed(pages.feed_jobs)),
        Route("/api/jobs/{job_id}", frame.feed(pages.feed_job)),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    session = Middleware(SessionMiddleware, secret_key=derived_key(secret, "session cookie").hex(),
                         session_cookie=COOKIE_NAME, max_age=SESSION_SECONDS, path=MOUNT, same_site="lax")
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders), session])


async def to_console(request: Request) -> Response:
    return RedirectResponse(MOUNT + "/")


def console_routes(parts: ConsoleParts) -> list[BaseRoute]:
    return [Route(MOUNT, to_console), Mount(MOUNT, app=console_app(parts))]
