"""The Bedrock API contract, read from botocore's service model as data.

Routes (method + requestUri), input member locations, error statuses and every
constraint the validator enforces come from ``bedrock/2023-04-20/service-2.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel
from botocore.model import ServiceModel as BotocoreServiceModel

SERVICE_NAME = "bedrock"
API_VERSION = "2023-04-20"

# The operations batchrock serves. A test asserts each one is routed.
SERVED_OPERATIONS: tuple[str, ...] = (
    "CreateModelInvocationJob",
    "GetModelInvocationJob",
    "ListModelInvocationJobs",
    "StopModelInvocationJob",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)

_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True)
class Route:
    """One operation's HTTP binding, matched against the raw (still percent-encoded) path."""

    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    readonly: bool

    @classmethod
    def for_operation(cls, operation: OperationModel) -> Route:
        uri = operation.http["requestUri"].split("?", 1)[0]
        regex, last = "", 0
        for label in _LABEL.finditer(uri):
            regex += re.escape(uri[last : label.start()])
            greedy = label.group(2) == "+"
            regex += f"(?P<{label.group(1)}>{'.+' if greedy else '[^/]+'})"
            last = label.end()
        regex += re.escape(uri[last:])
        readonly = bool(operation._operation_model.get("readonly"))  # botocore exposes no accessor
        return cls(operation, operation.http["method"], re.compile(regex), readonly)

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(raw_path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


class ServiceModel:
    """The parts of botocore's bedrock model that the server needs."""

    def __init__(self, model: BotocoreServiceModel) -> None:
        self.model = model

    @cached_property
    def routes(self) -> tuple[Route, ...]:
        return tuple(Route.for_operation(self.model.operation_model(name)) for name in SERVED_OPERATIONS)

    def resolve(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for a request and its decoded URI labels; None when nothing matches."""
        for route in self.routes:
            labels = route.match(method, raw_path)
            if labels is not None:
                return route, labels
        return None

    def status_for(self, code: str, fallback: int) -> int:
        """The HTTP status the model gives an error shape."""
        if code not in self.model.shape_names:
            return fallback
        error = self.model.shape_for(code).metadata.get("error", {})
        return int(error.get("httpStatusCode", fallback))

    def enum(self, shape_name: str) -> list[str]:
        return list(self.model.shape_for(shape_name).enum)


@lru_cache(maxsize=1)
def load() -> ServiceModel:
    session = botocore.session.get_session()
    return ServiceModel(session.get_service_model(SERVICE_NAME, api_version=API_VERSION))
