"""The HTTP control plane: one Starlette endpoint that routes by the service model.

Routing works on the raw path so that a percent-encoded job ARN (``%2F``) stays one label.
Every response carries ``x-amzn-RequestId``; every error is serialized here, in one place.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute

from batchrock import awsmodel
from batchrock.api import protocol
from batchrock.api.handlers import HANDLERS, Context
from batchrock.api.identity import Authenticator
from batchrock.errors import (
    HeadersTooLarge,
    InternalServer,
    RequestTimeout,
    ServiceError,
    UnknownOperation,
    ValidationError,
)
from batchrock.jobs.service import JobService
from batchrock.security.sigv4 import SignedRequest
from batchrock.settings import Settings
from batchrock.validation import validate

log = logging.getLogger("batchrock.api")

_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


class ControlPlane:
    def __init__(self, settings: Settings, service: JobService, model: awsmodel.ServiceModel,
                 authenticator: Authenticator) -> None:
        self.settings = settings
        self.service = service
        self.model = model
        self.authenticator = authenticator

    async def endpoint(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            status, body, extra = await self._handle(request)
            headers = {**extra, "x-amzn-RequestId": request_id}
            if body is None:
                return Response(b"", status_code=status, headers=headers)
            return Response(body, status_code=status, headers=headers, media_type="application/json")
        except ServiceError as error:
            return self._error_response(error, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            return self._error_response(InternalServer("An internal server error occurred."), request_id)

    def _error_response(self, error: ServiceError, request_id: str) -> Response:
        status = self.model.status_for(error.code, error.fallback_status)
        headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code}
        return Response(orjson.dumps(error.body()), status_code=status, headers=headers, media_type="application/json")

    async def _handle(self, request: Request) -> tuple[int, bytes | None, dict[str, str]]:
        if sum(len(name) + len(value) for name, value in request.scope["headers"]) > self.settings.max_header_bytes:
            raise HeadersTooLarge(f"The request headers must be at most {self.settings.max_header_bytes} bytes.")
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
        raw_body = await self._read_body(request)
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        signed = SignedRequest(request.method, request.url.scheme, raw_path, raw_query, request.headers, raw_body)
        owner = self.authenticator.authenticate(signed).owner
        resolved = self.model.resolve(request.method, raw_path)
        if resolved is None:
            raise UnknownOperation(f"No operation matches {request.method} {raw_path[:256]}.")
        route, labels = resolved
        operation = route.operation
        body: dict[str, Any] = {}
        if protocol.has_body_members(operation):
            body = protocol.parse_json_body(raw_body, request.headers.get("content-type"))
        params = protocol.decode_input(operation, labels, request.query_params.multi_items(), request.headers, body)
        validate(operation.input_shape, params)
        context = Context(self.service, self.settings, owner)
        handler = HANDLERS[operation.name]
        if route.readonly:
            result = handler(context, params)  # one indexed read: cheaper inline than a thread hop
        else:
            result = await run_in_threadpool(handler, context, params)
        encoded = protocol.encode_output(operation.output_shape, result.output)
        status = int(operation.http.get("responseCode", 200))
        return status, orjson.dumps(encoded) if encoded else None, result.headers

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is None and "transfer-encoding" not in request.headers:
            return b""
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise ValidationError(f"The request body must be at most {limit} bytes.")
        if declared == "0":
            return b""
        try:
            return await asyncio.wait_for(self._collect(request, limit), self.settings.body_timeout_seconds)
        except TimeoutError:
            raise RequestTimeout("The request body was not received in time.") from None

    @staticmethod
    async def _collect(request: Request, limit: int) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ValidationError(f"The request body must be at most {limit} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)


def create_app(settings: Settings, service: JobService, authenticator: Authenticator, lifespan: Any = None,
               extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """``extra_routes`` (the console, /metrics) match first: every other path is the Bedrock API's."""
    plane = ControlPlane(settings, service, awsmodel.load(), authenticator)
    routes = [*(extra_routes or []), StarletteRoute("/{path:path}", plane.endpoint, methods=_METHODS)]
    return Starlette(routes=routes, lifespan=lifespan)
