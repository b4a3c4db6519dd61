"""Slow clients cannot lock others out: connections that send nothing, or a header line now
and then, are closed on time, one address holds at most its cap, a full table closes the
connection idle longest, and signed calls from 127.0.0.1 keep being answered meanwhile.

The attackers bind other loopback addresses (127.0.0.2 and up; Linux routes all of 127/8 to
``lo``) so that the server can tell them from the normal client.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batchrock.api.connections import InFlightLimit
from tests.conftest import job_request
from tests.support.clients import bedrock
from tests.support.slow_clients import SlowClients, addresses, established, raise_open_files

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs 127.0.0.0/8 on lo and /proc/net/tcp")

MISSING_JOB = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefgh1234"


@pytest.fixture
def slow_clients() -> Iterator[Callable[..., SlowClients]]:
    raise_open_files(8192)
    started: list[SlowClients] = []

    def start(port: int, **options: Any) -> SlowClients:
        started.append(SlowClients(port, **options))
        return started[-1]

    yield start
    for attack in started:
        attack.stop()


@pytest.fixture
def make_arn() -> Callable[[Any], str]:
    return lambda client: str(client.create_model_invocation_job(**job_request())["jobArn"])


def get_status(client: Any, arn: str) -> int:
    try:
        return int(client.get_model_invocation_job(jobIdentifier=arn)["ResponseMetadata"]["HTTPStatusCode"])
    except ClientError as error:
        return int(error.response["ResponseMetadata"]["HTTPStatusCode"])


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def test_signed_calls_are_answered_during_1000_idle_and_1000_trickling_connections(
        start_server: Callable[..., Any], make_arn: Callable[[Any], str], slow_clients: Callable[..., SlowClients]) -> None:
    server = start_server("--no-worker")  # the defaults: 1000 connections, 256 per client, 5 s timeouts
    client = bedrock(server.url)
    arn = make_arn(client)
    attack = slow_clients(server.port).add(addresses(2, 4), 1000, trickle=False).add(addresses(6, 4), 1000, trickle=True)
    attack.start()
    assert wait_until(lambda: attack.opened >= 1000, 20)
    statuses: Counter[int] = Counter()
    held: list[int] = []
    stop_at = time.monotonic() + 10  # past the 5 s timeouts, so the attackers reconnect meanwhile
    while time.monotonic() < stop_at:
        statuses[get_status(client, arn)] += 1
        statuses[get_status(client, MISSING_JOB)] += 1
        held.append(sum(count for source, count in established(server.port).items() if source != "127.0.0.1"))
    attack.drain()
    assert set(statuses) == {200, 404}, statuses  # answered, never 503
    assert statuses[200] >= 3
    assert max(held) >= 800  # the attack did fill the table (1000)
    # the server closes every one, the ones still trickling included: trickling does not extend the header timeout
    assert wait_until(lambda: attack.open_now == 0, 30), attack.open_now
    assert attack.closed_by_server == attack.opened


def test_one_address_holds_at_most_its_cap(start_server: Callable[..., Any], make_arn: Callable[[Any], str],
                                            slow_clients: Callable[..., SlowClients]) -> None:
    server = start_server("--no-worker", "--max-connections-per-client", "20", "--idle-timeout-seconds", "60")
    attack = slow_clients(server.port).add(["127.0.0.2"], 50, trickle=False)
    attack.drain()  # each connects once
    attack.start()
    assert wait_until(lambda: attack.closed_by_server >= 30, 15), attack.closed_by_server
    time.sleep(0.5)
    assert (attack.closed_by_server, attack.open_now) == (30, 20)
    assert established(server.port)["127.0.0.2"] == 20
    client = bedrock(server.url)
    assert get_status(client, make_arn(client)) == 200


def test_a_full_table_closes_the_connection_idle_longest(start_server: Callable[..., Any],
                                                          make_arn: Callable[[Any], str]) -> None:
    server = start_server("--no-worker", "--max-connections", "30", "--idle-timeout-seconds", "60")
    oldest = socket.create_connection(("127.0.0.1", server.port), source_address=("127.0.0.2", 0))
    time.sleep(0.2)
    others = [socket.create_connection(("127.0.0.1", server.port), source_address=("127.0.0.3", 0)) for _ in range(29)]
    try:
        client = bedrock(server.url)
        assert get_status(client, make_arn(client)) == 200  # a full table, but the signed call gets a slot
        oldest.settimeout(10)
        assert oldest.recv(1) == b""  # closed by the server to make room
    finally:
        for sock in [oldest, *others]:
            sock.close()


def test_requests_waiting_for_their_body_do_not_count_towards_the_503(start_server: Callable[..., Any],
                                                                         make_arn: Callable[[Any], str]) -> None:
    server = start_server("--no-worker", "--max-connections", "5", "--body-timeout-seconds", "60")
    head = b"POST /model-invocation-job HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n\r\n"
    stalled = [socket.create_connection(("127.0.0.1", server.port), source_address=("127.0.0.2", 0)) for _ in range(20)]
    try:
        for sock in stalled:
            sock.sendall(head)
        time.sleep(1.0)
        client = bedrock(server.url)
        assert get_status(client, make_arn(client)) == 200
    finally:
        for sock in stalled:
            sock.close()


def test_503_past_max_connections_requests_at_work() -> None:
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/body":
            await receive()  # waits for the client: not counted
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def call(limit: InFlightLimit, path: str, receive: Any) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await limit({"type": "http", "path": path}, receive, send)
        return int(sent[0]["status"])

    async def scenario() -> list[int]:
        limit = InFlightLimit(app, 2)
        waiting = asyncio.Event()

        async def receive() -> dict[str, Any]:
            await waiting.wait()
            return {"type": "http.request", "body": b"", "more_body": False}

        first = [asyncio.create_task(call(limit, path, receive)) for path in ("/body", "/a", "/b")]
        await asyncio.sleep(0.05)
        refused = await call(limit, "/c", receive)  # /a and /b are at work
        waiting.set()
        release.set()
        return [*(await asyncio.gather(*first)), refused]

    assert asyncio.run(scenario()) == [200, 200, 200, 503]
