"""Job state-change events reach a real HTTP receiver: a job's whole life in order and signed, and
every event even when the receiver was down for a while and the server restarted meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable

from batchrock.observability.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.observability.receiver import Received, Receiver, statuses_by_job
from tests.support.clients import ACCOUNT, REGION, bedrock
from tests.support.jobs import claude_input, create_job, records, wait_for, write_jsonl
from tests.support.server import ServerProcess

SECRET = "receiver-shared-secret"
LIFE = ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"]


def completed_lives(arns: list[str]) -> Callable[[list[Received]], bool]:
    return lambda got: all(statuses_by_job(got).get(arn, [])[-1:] == ["Completed"] for arn in arns)


def test_a_jobs_whole_life_arrives_in_order_and_signed(start_server: Callable[..., ServerProcess]) -> None:
    receiver = Receiver().start()
    try:
        server = start_server("--events-url", receiver.url, env={"BATCHROCK_EVENTS_SECRET": SECRET})
        write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl",
                    [*records(4), {"recordId": "F", "modelInput": claude_input("ECHO_FAIL")}])
        client = bedrock(server.url)
        arn = create_job(client, "s3://bucket/in/", "s3://bucket/out/")
        assert wait_for(client, arn)["status"] == "Completed"
        got = receiver.wait_until(completed_lives([arn]))
    finally:
        receiver.stop()
    assert statuses_by_job(got) == {arn: LIFE}
    for item in got:
        headers = item.headers
        assert verify(SECRET.encode(), headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()], item.body,
                      time.time()), headers
        assert not verify(b"another secret", headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()],
                          item.body, time.time())
        assert headers[EVENT_ID_HEADER.lower()] == item.event["id"]
    assert len({item.event["id"] for item in got}) == len(LIFE)
    last = got[-1].event
    assert {key: last[key] for key in ("version", "detail-type", "source", "account", "region", "resources")} == {
        "version": "0", "detail-type": "Batch Inference Job State Change", "source": "aws.bedrock", "account": ACCOUNT,
        "region": REGION, "resources": [arn]}
    detail = last["detail"]
    assert detail["batchJobArn"] == arn and detail["accountId"] == ACCOUNT and detail["failureMessage"] == ""
    assert detail["batchModelId"] == "anthropic.claude-3-haiku-20240307-v1:0" and detail["batchJobName"].startswith("job-")
    assert (detail["totalRecordCount"], detail["processedRecordCount"], detail["successRecordCount"],
            detail["errorRecordCount"]) == (5, 5, 4, 1)
    assert detail["inputTokenCount"] > 0 and detail["outputTokenCount"] > 0
    assert got[0].event["detail"]["processedRecordCount"] == 0  # each event shows the job as its change left it


def test_every_event_arrives_once_the_receiver_is_up_even_across_a_restart(
        start_server: Callable[..., ServerProcess]) -> None:
    receiver = Receiver()  # its port is known, but nothing listens there yet
    steady = Receiver().start()  # another receiver, up all along: it does not wait for the first
    server = start_server("--events-url", receiver.url, "--events-url", steady.url)
    write_jsonl(server.data_dir / "buckets/bucket/in/a.jsonl", records(3))
    client = bedrock(server.url)
    first = create_job(client, "s3://bucket/in/", "s3://bucket/out/")
    assert wait_for(client, first)["status"] == "Completed"
    steady.wait_until(completed_lives([first]))
    server.stop()  # with all of the first job's events undelivered to the receiver that is down
    server.start()
    second = create_job(client, "s3://bucket/in/", "s3://bucket/out/")
    receiver.start()
    try:
        assert wait_for(client, second)["status"] == "Completed"
        got = receiver.wait_until(completed_lives([first, second]))
        steady.wait_until(completed_lives([first, second]))
    finally:
        receiver.stop()
        steady.stop()
    assert statuses_by_job(got) == statuses_by_job(steady.events()) == {first: LIFE, second: LIFE}
    assert len(steady.events()) == len(got)  # the steady one got nothing twice either
    assert len({item.event["id"] for item in got}) == len(got)
    assert "did not take event" in server.log()  # they were tried, and retried, while it was down
    assert SIGNATURE_HEADER.lower() not in got[0].headers  # no secret: unsigned
