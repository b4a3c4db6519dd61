"""Rendering: the Jinja2 templates shipped in the package, and the headers every response carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batchrock.console.session import CSRF_FIELD, ConsoleSession, Viewer

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

# Everything the console loads is its own: no inline script or style, no other origin, no framing.
_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                                 b"form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def root(request: Request) -> str:
    """Where the console is mounted (``/console``, behind a proxy's prefix too): every link starts here."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def thousands(value: int) -> str:
    return f"{value:,}"


class Renderer:
    def __init__(self) -> None:
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["thousands"] = thousands

    def page(self, request: Request, session: ConsoleSession, viewer: Viewer | None, template: str,
             context: dict[str, Any], status: int = 200) -> HTMLResponse:
        shared = {"base": root(request), "viewer": viewer, "csrf": session.csrf, "csrf_field": CSRF_FIELD,
                  "region": session.region}
        body = self.env.get_template(template).render({**shared, **context})
        return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})


class SecurityHeaders:
    """Adds the console's security headers to each of its responses (pages, feed and static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
