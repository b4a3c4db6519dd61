"""Model hosts: in-process backends run in a child process of ``batchrock serve``, so a native
crash in a model takes nothing else down. A real server on a catalog whose hosted echo backend
crashes its host on demand (SIGSEGV): on its Nth request, on a marked record, or at start-up;
and the real llama.cpp model answering through its host."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from batchrock.backends.base import GenerationRequest, GenerationResult, Message, RequestKind
from batchrock.backends.echo import EchoOptions
from batchrock.backends.host import HostedBackend
from batchrock.backends.host.process import HostExit
from tests.support.clients import bedrock
from tests.support.jobs import TERMINAL, claude_input, create_job, read_output_lines, wait_for, write_jsonl
from tests.support.server import ServerProcess

CATALOG = str(Path(__file__).resolve().parents[1] / "support" / "host_catalog.toml")
HOST_MODULE = "batchrock.backends.host.child"


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[dict[str, Any]]:
    server = ServerProcess(tmp_path / "data", extra_args=("--catalog", CATALOG, "--batch-size", "4")).start()
    yield {"server": server, "client": bedrock(server.url)}
    server.stop()


def submit(ctx: dict[str, Any], name: str, model: str, texts: list[str]) -> tuple[str, list[str]]:
    rows = [{"recordId": f"{name}{i:03d}", "modelInput": claude_input(text)} for i, text in enumerate(texts)]
    write_jsonl(ctx["server"].data_dir / f"buckets/host/{name}/in.jsonl", rows)
    arn = create_job(ctx["client"], f"s3://host/{name}/", f"s3://host/{name}-out/", model=model)
    return arn, [row["recordId"] for row in rows]


def outputs(ctx: dict[str, Any], name: str, arn: str) -> list[dict[str, Any]]:
    return read_output_lines(ctx["server"].data_dir / f"buckets/host/{name}-out" / arn.rsplit("/", 1)[1] / "in.jsonl.out")


def poll_until_done(ctx: dict[str, Any], arn: str, timeout: float = 120) -> tuple[dict[str, Any], int]:
    """Get the job every 50 ms until it ends: every Get must answer (the API stays up throughout)."""
    deadline, polls = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        ctx["server"].check_alive()
        job = ctx["client"].get_model_invocation_job(jobIdentifier=arn)
        polls += 1
        if job["status"] in TERMINAL:
            return dict(job), polls
        time.sleep(0.05)
    raise AssertionError(f"job {arn} did not end; last {job['status']}")


def host_deaths(server: ServerProcess) -> int:
    return server.log().count("the model host was killed by SIGSEGV")


def test_a_host_crashing_mid_job_is_replaced_and_no_record_is_lost(hosted: dict[str, Any]) -> None:
    # every host process dies on the 7th request it sees: with batches of 4, each host dies once
    arn, ids = submit(hosted, "nth", "hosted.crash-nth", [f"hello {i}" for i in range(30)])
    job, polls = poll_until_done(hosted, arn)
    assert job["status"] == "Completed" and job["errorRecordCount"] == 0, job.get("message")
    assert job["successRecordCount"] == 30 and polls > 3
    lines = outputs(hosted, "nth", arn)
    assert [line["recordId"] for line in lines] == ids
    assert [line["modelOutput"]["content"][0]["text"] for line in lines] == [f"echo: hello {i}" for i in range(30)]
    assert host_deaths(hosted["server"]) >= 2


def test_a_record_that_always_crashes_the_host_becomes_one_error_record(hosted: dict[str, Any]) -> None:
    texts = [f"fine {i}" for i in range(12)]
    texts[5] = "please CRASH here"
    arn, ids = submit(hosted, "marker", "hosted.crash-marker", texts)
    job, _ = poll_until_done(hosted, arn)
    assert job["status"] == "Completed" and (job["successRecordCount"], job["errorRecordCount"]) == (11, 1)
    lines = outputs(hosted, "marker", arn)
    assert [line["recordId"] for line in lines] == ids
    error = lines[5]["error"]
    assert error["errorCode"] == 500
    assert "died 3 times while running this record" in error["errorMessage"] and "SIGSEGV" in error["errorMessage"]
    assert all("modelOutput" in line for i, line in enumerate(lines) if i != 5)
    assert host_deaths(hosted["server"]) == 3  # innocent records of its batch re-ran alone, without a crash


def test_a_host_that_cannot_start_fails_the_job_with_its_reason(hosted: dict[str, Any]) -> None:
    arn, _ = submit(hosted, "start", "hosted.crash-start", ["hello", "there"])
    job, _ = poll_until_done(hosted, arn, timeout=60)
    assert job["status"] == "Failed", job
    message = job["message"]
    assert "could not start" in message and "SIGSEGV" in message, message
    assert "crash_at_start: dying during start-up" in message  # the host's own last log lines


def test_jobs_on_other_backends_keep_running_while_a_host_crashes(hosted: dict[str, Any]) -> None:
    crashing, crashing_ids = submit(hosted, "crashy", "hosted.slow-crash", [f"crash-prone {i}" for i in range(40)])
    deadline = time.monotonic() + 60
    while host_deaths(hosted["server"]) == 0:
        assert time.monotonic() < deadline, "the hosted backend never crashed"
        time.sleep(0.05)
    steady, steady_ids = submit(hosted, "steady", "local.echo", [f"steady {i}" for i in range(120)])
    job = wait_for(hosted["client"], steady, timeout=120, watch=[hosted["server"]])
    assert job["status"] == "Completed" and job["successRecordCount"] == 120
    assert [line["recordId"] for line in outputs(hosted, "steady", steady)] == steady_ids
    job = wait_for(hosted["client"], crashing, timeout=120, watch=[hosted["server"]])
    assert job["status"] == "Completed" and job["errorRecordCount"] == 0, job.get("message")
    assert [line["recordId"] for line in outputs(hosted, "crashy", crashing)] == crashing_ids
    assert host_deaths(hosted["server"]) >= 2


def test_one_host_serves_single_requests_and_batches_from_many_threads_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """Three jobs' worth of callers, each on its own event loop (as jobs run), sending single
    requests and a batch concurrently, while the host dies on the 25th request it sees."""
    backend = HostedBackend("echo", EchoOptions(hosted=True, crash_on_request=25))

    def ask(text: str) -> GenerationRequest:
        return GenerationRequest(RequestKind.CHAT, (Message("user", text),), max_tokens=8)

    async def caller(prefix: str) -> list[Any]:
        singles = [backend.generate([ask(f"{prefix} {i}")]) for i in range(20)]
        batch = backend.generate([ask(f"{prefix} batch {i}") for i in range(8)])
        answers = await asyncio.gather(*singles, batch)
        return [result for answer in answers for result in answer]

    prefixes = ["a", "b", "c"]
    try:
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda prefix: asyncio.run(caller(prefix)), prefixes))
    finally:
        backend.close()
    for prefix, results in zip(prefixes, answers, strict=True):
        expected = [f"echo: {prefix} {i}" for i in range(20)] + [f"echo: {prefix} batch {i}" for i in range(8)]
        assert all(isinstance(result, GenerationResult) for result in results), results
        assert [result.text for result in results] == expected
    assert "the model host was killed by SIGSEGV" in caplog.text


def test_a_sigill_names_the_portable_build() -> None:
    death = HostExit(-signal.SIGILL, ("Fatal Python error: Illegal instruction",))
    assert death.describe() == "was killed by SIGILL (Illegal instruction)"
    assert "make setup" in death.hint() and "LLAMA_NATIVE" in death.hint()
    assert HostExit(3, ()).describe() == "exited with code 3" and HostExit(3, ()).hint() == ""


def host_children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and HOST_MODULE.encode() in command:
            found.append(int(stat.parent.name))
    return found


def test_the_real_llamacpp_model_answers_through_its_host(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=("--batch-size", "2")).start()
    try:
        client = bedrock(server.url)
        rows = [{"recordId": f"q{i}", "modelInput": claude_input(text, max_tokens=4)}
                for i, text in enumerate(["Name a colour.", "Say hi."])]
        write_jsonl(server.data_dir / "buckets/real/in/in.jsonl", rows)
        arn = create_job(client, "s3://real/in/", "s3://real/out/")
        job = wait_for(client, arn, timeout=300, watch=[server])
        assert job["status"] == "Completed" and job["errorRecordCount"] == 0, job.get("message")
        lines = read_output_lines(server.data_dir / "buckets/real/out" / arn.rsplit("/", 1)[1] / "in.jsonl.out")
        assert [line["recordId"] for line in lines] == ["q0", "q1"]
        assert all(0 < line["modelOutput"]["usage"]["output_tokens"] <= 4 for line in lines)
        assert server.process is not None and len(host_children(server.process.pid)) == 1
    finally:
        server.stop()


def test_a_dead_server_fails_the_wait_at_once_with_its_last_log_lines(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=("--catalog", CATALOG)).start()
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    started = time.monotonic()
    with pytest.raises(AssertionError, match="batchrock serve exited") as raised:
        wait_for(bedrock(server.url), "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefghijkl",
                 timeout=3600, watch=[server])
    assert time.monotonic() - started < 5 and "development mode" in str(raised.value)
