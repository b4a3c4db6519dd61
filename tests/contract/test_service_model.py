"""The API contract is botocore's model: every served operation is routed, enums agree."""

from __future__ import annotations

from batchrock import awsmodel
from batchrock.jobs.model import InvocationType, JobStatus, SortOrder
from batchrock.jobs.transitions import ALLOWED, STOPPABLE, TERMINAL, can_transition


def test_every_served_operation_is_routed_from_its_http_binding() -> None:
    model = awsmodel.load()
    for name in awsmodel.SERVED_OPERATIONS:
        operation = model.model.operation_model(name)
        path = operation.http["requestUri"].replace("{jobIdentifier}", "abcdefghij12")
        route, labels = model.resolve(operation.http["method"], path)
        assert route.operation.name == name
        if "{jobIdentifier}" in operation.http["requestUri"]:
            assert labels == {"jobIdentifier": "abcdefghij12"}


def test_percent_encoded_arn_stays_one_label() -> None:
    model = awsmodel.load()
    raw = "/model-invocation-job/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-invocation-job%2Fabcdefghij12/stop"
    route, labels = model.resolve("POST", raw)
    assert route.operation.name == "StopModelInvocationJob"
    assert labels["jobIdentifier"].endswith(":model-invocation-job/abcdefghij12")


def test_status_enum_equals_the_model_enum() -> None:
    model = awsmodel.load()
    assert [status.value for status in JobStatus] == model.enum("ModelInvocationJobStatus")
    assert [kind.value for kind in InvocationType] == model.enum("ModelInvocationType")
    assert [order.value for order in SortOrder] == model.enum("SortOrder")


def test_error_statuses_come_from_the_model() -> None:
    model = awsmodel.load()
    assert model.status_for("ResourceNotFoundException", 0) == 404
    assert model.status_for("ValidationException", 0) == 400
    assert model.status_for("ThrottlingException", 0) == 429
    assert model.status_for("NotInModel", 418) == 418


def test_transition_table() -> None:
    assert {JobStatus.COMPLETED, JobStatus.PARTIALLY_COMPLETED, JobStatus.FAILED,
                        JobStatus.STOPPED, JobStatus.EXPIRED} == TERMINAL
    assert set(ALLOWED) == set(JobStatus)
    assert {JobStatus.SUBMITTED, JobStatus.VALIDATING, JobStatus.SCHEDULED, JobStatus.IN_PROGRESS} == STOPPABLE
    assert can_transition(JobStatus.SUBMITTED, JobStatus.VALIDATING)
    assert can_transition(JobStatus.STOPPING, JobStatus.STOPPED)
    assert not can_transition(JobStatus.COMPLETED, JobStatus.IN_PROGRESS)
    assert not can_transition(JobStatus.SUBMITTED, JobStatus.COMPLETED)
    assert not can_transition(JobStatus.STOPPING, JobStatus.COMPLETED)
