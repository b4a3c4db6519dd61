"""The console's forms: reading a posted form, the model and role choices, and the create-job
form turned into CreateModelInvocationJob's parameters, which the API's own validator checks
against the service model before the API's own handler runs them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from batchrock import awsmodel
from batchrock.catalog import Catalog
from batchrock.errors import ValidationError
from batchrock.jobs.model import InvocationType
from batchrock.validation import validate

FORM_BYTES = 64 * 1024
_FORM_TYPE = "application/x-www-form-urlencoded"
_WILDCARDS = "*?["


class FormRejected(Exception):
    """A form larger than any this console sends."""


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields; none for a body of another type (so it carries no CSRF token either)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM_TYPE:
        return {}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            raise FormRejected(f"a form must be at most {FORM_BYTES} bytes")
    return dict(reversed(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)))  # first wins


@dataclass(frozen=True)
class ModelChoice:
    """One catalog row: an exact model id or a pattern the id must complete."""

    pattern: str
    format: str
    backend: str

    @property
    def stem(self) -> str:
        """The pattern up to its first wildcard: what the form fills in for the user to complete."""
        cut = min((self.pattern.index(mark) for mark in _WILDCARDS if mark in self.pattern), default=len(self.pattern))
        return self.pattern[:cut]


def model_choices(catalog: Catalog) -> list[ModelChoice]:
    return [ModelChoice(pattern, format_name, backend) for pattern, format_name, backend in catalog.listing()]


def role_choices(roles: list[str], account_id: str) -> list[str]:
    """The roles the account may pass; in development mode (any role) a suggested one."""
    return sorted(roles) or [f"arn:aws:iam::{account_id}:role/batchrock"]


def _new_token() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class JobForm:
    job_name: str = ""
    model_id: str = ""
    role_arn: str = ""
    input_uri: str = ""
    output_uri: str = ""
    timeout_hours: str = ""
    invocation_type: str = InvocationType.INVOKE_MODEL.value
    # one per form shown: a form sent twice (a double click, a resend) creates one job, as the SDKs' token does
    client_token: str = field(default_factory=_new_token)

    @classmethod
    def from_form(cls, form: dict[str, str]) -> JobForm:
        texts = {item.name: form.get(item.name, "").strip() for item in fields(cls) if item.name != "client_token"}
        return cls(**texts, client_token=form.get("client_token") or _new_token())

    def params(self) -> dict[str, Any]:
        """CreateModelInvocationJob's parameters, as the API decodes them from a request."""
        params: dict[str, Any] = {
            "jobName": self.job_name,
            "roleArn": self.role_arn,
            "modelId": self.model_id,
            "clientRequestToken": self.client_token,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": self.input_uri}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": self.output_uri}},
            "modelInvocationType": self.invocation_type,
        }
        if self.timeout_hours:
            params["timeoutDurationInHours"] = int(self.timeout_hours) if self.timeout_hours.isdigit() else self.timeout_hours
        return params

    def checked_params(self, catalog: Catalog) -> dict[str, Any]:
        """The parameters, checked as the API checks them, and the model against this server's catalog
        (where the API would accept it and fail the job in validation: the form can say so at once)."""
        params = self.params()
        validate(awsmodel.load().model.operation_model("CreateModelInvocationJob").input_shape, params)
        if catalog.resolve(self.model_id) is None:
            raise ValidationError(f"The model {self.model_id} matches no entry of this server's model catalog.")
        return params

