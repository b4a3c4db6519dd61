"""Property test: random Create/List requests drawn from the model. Valid ones succeed,
invalid ones are 400 ValidationException, nothing is ever a 5xx."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchrock import awsmodel
from batchrock.api.protocol import format_timestamp
from tests.contract.strategies import UTF8, invalid_value, valid
from tests.support.clients import signed

MODEL = awsmodel.load().model
CREATE = MODEL.operation_model("CreateModelInvocationJob").input_shape
LIST = MODEL.operation_model("ListModelInvocationJobs").input_shape
_SERIAL = itertools.count()
# A fresh account per example, so generated job names never collide between examples.
ACCOUNTS = st.builds(lambda: f"{(time.time_ns() // 1000 + next(_SERIAL)) % 10**12:012d}")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

def _post(server: Any, account: str, body: dict[str, Any]) -> Any:
    return signed(server.url, "POST", "/model-invocation-job", json.dumps(body).encode(),
                  {"Content-Type": "application/json"}, account=account)


def _assert_not_5xx(response: Any) -> None:
    assert response.status < 500, (response.status, response.body)


@SETTINGS
@given(body=valid(CREATE), account=ACCOUNTS)
def test_valid_create_requests_succeed(server: Any, body: dict[str, Any], account: str) -> None:
    keys = [tag["key"] for tag in body.get("tags", [])]
    if any(key.lower().startswith("aws:") for key in keys) or len(set(keys)) < len(keys):
        return  # reserved and repeated tag keys are refused by design; covered by the tags tests
    body["clientRequestToken"] = None
    body = {key: value for key, value in body.items() if value is not None}
    response = _post(server, account, body)
    assert response.status == 200, response.body
    assert response.json()["jobArn"].startswith(f"arn:aws:bedrock:us-east-1:{account}:model-invocation-job/")


@st.composite
def broken_create(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    body = draw(valid(CREATE))
    name = draw(st.sampled_from(sorted(CREATE.members)))
    member = CREATE.members[name]
    if member.type_name == "structure":
        wrong_values = ["text", 5, [], {}, {"unknown": 1}] if member.metadata.get("union") else ["text", 5, []]
        body[name] = draw(st.sampled_from(wrong_values))
    else:
        body[name] = draw(invalid_value(member))
    return body, name


@SETTINGS
@given(case=broken_create(), account=ACCOUNTS)
def test_invalid_create_requests_are_validation_errors(server: Any, case: tuple[dict[str, Any], str], account: str) -> None:
    body, name = case
    response = _post(server, account, body)
    _assert_not_5xx(response)
    if body[name] is None and name not in CREATE.required_members:
        return  # an optional member sent as null is the same as absent
    if response.status == 200:
        return  # the drawn "bad" value happened to satisfy the shape (e.g. a free-text member)
    assert response.status == 400 and response.error_type == "ValidationException", response.body
    assert name in response.json()["message"]


def _query(params: dict[str, Any]) -> str:
    flat = {key: format_timestamp(value) if hasattr(value, "tzinfo") else value for key, value in params.items()}
    return urlencode({key: str(value) for key, value in flat.items()})


@SETTINGS
@given(params=valid(LIST), account=ACCOUNTS)
def test_valid_list_requests_succeed_or_reject_only_the_token(server: Any, params: dict[str, Any], account: str) -> None:
    response = signed(server.url, "GET", "/model-invocation-jobs?" + _query(params), account=account)
    _assert_not_5xx(response)
    if "nextToken" in params:  # a random token is never one the server issued
        assert response.error_type == "ValidationException" and "nextToken" in response.json()["message"]
    else:
        assert response.status == 200, response.body
        assert response.json()["invocationJobSummaries"] == []


@SETTINGS
@given(name=st.sampled_from(sorted(LIST.members)), junk=st.text(UTF8, max_size=40), account=ACCOUNTS)
def test_junk_list_parameters_never_fail_the_server(server: Any, name: str, junk: str, account: str) -> None:
    response = signed(server.url, "GET", "/model-invocation-jobs?" + urlencode({name: junk}), account=account)
    _assert_not_5xx(response)
    assert response.status in (200, 400)
    if response.status == 400:
        assert response.error_type == "ValidationException"
