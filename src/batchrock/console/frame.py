"""What every console request goes through before its handler: the session, who is signed in,
the CSRF check of a posted form, and one place that turns a service error into a page or JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from batchrock import awsmodel
from batchrock.api.handlers import HANDLERS, Context, Result
from batchrock.console.forms import FormRejected, read_form
from batchrock.console.session import ConsoleSession, Gate, Viewer
from batchrock.console.views import Renderer, root
from batchrock.errors import AccessDenied, ServiceError, ValidationError
from batchrock.jobs.model import Owner
from batchrock.jobs.service import JobService
from batchrock.settings import Settings
from batchrock.validation import validate


@dataclass(frozen=True)
class Visit:
    """One request as a handler sees it: its session, the viewer (None: not signed in) and a POST's form."""

    request: Request
    session: ConsoleSession
    viewer: Viewer | None
    form: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self) -> Owner:
        assert self.viewer is not None, "signed-in handlers only"
        return self.viewer.owner

    @property
    def base(self) -> str:
        return root(self.request)

    def redirect(self, path: str) -> Response:
        """After a POST: the browser GETs the page (303), so a reload never posts again."""
        return RedirectResponse(self.base + path, status_code=303)


Handler = Callable[[Visit], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class Frame:
    def __init__(self, settings: Settings, service: JobService, gate: Gate, renderer: Renderer) -> None:
        self.settings = settings
        self.service = service
        self.gate = gate
        self.renderer = renderer

    def call(self, visit: Visit, operation: str, params: dict[str, Any]) -> Result:
        """An API operation, as the API runs it: its parameters validated against the service model,
        then its handler, for the visitor's account (the same calls, the same owner checks)."""
        validate(awsmodel.load().model.operation_model(operation).input_shape, params)
        return HANDLERS[operation](Context(self.service, self.settings, visit.owner), params)

    def page(self, handler: Handler) -> Endpoint:
        """A signed-in page (or form post); a visitor who is not signed in is sent to sign in."""
        return self._endpoint(handler, as_json=False, public=False)

    def public(self, handler: Handler) -> Endpoint:
        """A page anyone may see (signing in)."""
        return self._endpoint(handler, as_json=False, public=True)

    def feed(self, handler: Handler) -> Endpoint:
        """A signed-in JSON endpoint the pages poll; 401 when not signed in."""
        return self._endpoint(handler, as_json=True, public=False)

    def _endpoint(self, handler: Handler, as_json: bool, public: bool) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            session = self.gate.session(request.session)
            visit = Visit(request, session, self.gate.viewer(session))
            try:
                if visit.viewer is None and not public:
                    return self._unauthenticated(visit, as_json)
                if request.method == "POST":
                    visit = Visit(request, session, visit.viewer, await self._checked_form(visit))
                return await handler(visit)
            except ServiceError as error:
                return self.problem(visit, error, as_json)

        return endpoint

    async def _checked_form(self, visit: Visit) -> dict[str, str]:
        try:
            form = await read_form(visit.request)
        except FormRejected as rejected:
            raise ValidationError(f"The form was refused: {rejected}.") from None
        if not self.gate.csrf_matches(visit.session, form):
            raise AccessDenied("This form has expired or did not come from this console: reload the page and try again.")
        return form

    def _unauthenticated(self, visit: Visit, as_json: bool) -> Response:
        if as_json:
            return json_response({"message": "Sign in to the console first."}, 401)
        url = visit.request.url
        wanted = f"{url.path}?{url.query}" if url.query else url.path
        back = wanted if visit.request.method == "GET" else visit.base + "/"
        return RedirectResponse(f"{visit.base}/login?{urlencode({'next': back})}", status_code=303)

    def problem(self, visit: Visit, error: ServiceError, as_json: bool = False) -> Response:
        """A service error as the API would answer it: its code, its message, the model's status."""
        status = awsmodel.load().status_for(error.code, error.fallback_status)
        if as_json:
            return json_response({"code": error.code, **error.body()}, status)
        context = {"status": status, "code": error.code, "message": error.message}
        return self.renderer.page(visit.request, visit.session, visit.viewer, "problem.html", context, status)


def json_response(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})
