"""``batchrock estimate``: records and tokens counted with the packaged GGUF's own tokenizer match
what a real llama.cpp job over the same input counts; other backends are approximated, and say so;
the run time comes from the server's completed jobs of the same backend model, or is not known."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ECHO_CATALOG
from tests.followup.conftest import Ran, run_job
from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, records, wait_for, write_jsonl
from tests.support.server import ServerProcess, free_port

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
SMOLLM2_CATALOG = str(Path(__file__).with_name("smollm2_catalog.toml"))
ROWS: list[Any] = [
    {"recordId": "plain", "modelInput": claude_input("Name a colour.", max_tokens=3)},
    {"recordId": "system", "modelInput": {**claude_input("Hello there, how are you today?", max_tokens=2),
                                          "system": "You are terse."}},
    b"",
    {"recordId": "blocks", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Count: one two three"}]},
        {"role": "assistant", "content": "four"}, {"role": "user", "content": "and then?"}]}},
    {"recordId": "bad", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2, "messages": []}},
]


@pytest.fixture(scope="module")
def smollm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("smollm") / "data", extra_args=("--catalog", SMOLLM2_CATALOG)).start()
    yield server
    server.stop()


def test_gguf_tokens_match_a_real_job(smollm_server: ServerProcess, batchrock: Callable[..., Ran]) -> None:
    write_jsonl(smollm_server.data_dir / "buckets/est/in/prompts.jsonl", ROWS)
    client = bedrock(smollm_server.url)
    arn = create_job(client, "s3://est/in/", "s3://est/out/", model=CLAUDE)
    assert wait_for(client, arn, timeout=300, watch=[smollm_server])["status"] == "Completed"
    manifest = json.loads((smollm_server.data_dir / "buckets/est/out" / arn.rsplit("/", 1)[1]
                           / "manifest.json.out").read_text())
    flags = ("--model", CLAUDE, "--endpoint-url", smollm_server.url)
    ran = batchrock("estimate", "s3://est/in/", *flags, "--catalog", SMOLLM2_CATALOG, "--data-dir",
                    str(smollm_server.data_dir), "--json")
    assert ran.code == 0, ran.err
    found = json.loads(ran.out)
    assert (found["files"], found["records"], found["runnable"], found["refusedRecords"]) == (1, 4, 3, 1)
    assert "messages must be a non-empty list" in found["firstProblem"] and found["inputTokensExact"] is True
    assert found["inputTokens"] == manifest["inputTokenCount"] > 0
    assert found["outputTokenBound"] == 3 + 2 + 2 >= manifest["outputTokenCount"]
    assert found["throughput"]["jobIds"] == [arn.rsplit("/", 1)[1]]
    assert found["throughput"]["outputTokens"] == manifest["outputTokenCount"]
    assert found["runTimeSeconds"]["byRecords"] > 0
    # the default catalog maps the same GGUF; its other options (threads, slots) leave tokens as they are
    text = batchrock("estimate", str(smollm_server.data_dir / "buckets/est/in/prompts.jsonl"), *flags)
    assert text.code == 0, text.err
    assert f"Input tokens: {manifest['inputTokenCount']} (exact: the vocabulary of SmolLM2-135M-Instruct" in text.out
    assert "Output tokens: at most 7 " in text.out and "Run time: about " in text.out


def test_other_backends_are_approximated_and_no_server_means_no_run_time(tmp_path: Path,
                                                                         batchrock: Callable[..., Ran]) -> None:
    write_jsonl(tmp_path / "in/b.jsonl", records(3, "B"))
    write_jsonl(tmp_path / "in/a/deeper.jsonl", [*records(2, "A"), b"{oops"])
    (tmp_path / "in/notes.txt").write_text("not an input")
    nowhere = f"http://127.0.0.1:{free_port()}"
    ran = batchrock("estimate", str(tmp_path / "in"), "--model", CLAUDE, "--catalog", ECHO_CATALOG,
                    "--endpoint-url", nowhere)
    assert ran.code == 0, ran.err
    texts = [f"hello {i}" for i in range(2)] + [f"hello {i}" for i in range(3)]
    assert f"2 files, {len(texts) + 1} records, {len(texts)} would run" in ran.out
    assert "  1 error record (the first: " in ran.out
    assert "/a/deeper.jsonl: record 3: line 3 is not valid JSON" in ran.out
    tokens = sum(math.ceil(len(text) / 4) for text in texts)
    assert f"Input tokens: {tokens} (approximate: 1 token per 4 characters" in ran.out and "echo backend" in ran.out
    assert f"Output tokens: at most {20 * len(texts)} (each record's max tokens)" in ran.out
    assert f"Run time: not known (no batchrock server answers at {nowhere})" in ran.out


def test_run_time_from_completed_jobs_of_the_same_backend_model(echo_server: ServerProcess, echo_client: Any,
                                                                batchrock: Callable[..., Ran], tmp_path: Path) -> None:
    arn = run_job(echo_server, echo_client, "throughput", {"a.jsonl": records(40)})
    assert wait_for(echo_client, arn)["status"] == "Completed"
    source = write_jsonl(tmp_path / "next.jsonl", records(400))
    # another model id on the same echo backend entry counts; slow.* (another entry) does not
    ran = batchrock("estimate", str(source), "--model", "anthropic.claude-3-5-sonnet-20240620-v1:0", "--catalog",
                    ECHO_CATALOG, "--endpoint-url", echo_server.url, "--json")
    assert ran.code == 0, ran.err
    found = json.loads(ran.out)
    throughput = found["throughput"]
    assert arn.rsplit("/", 1)[1] in throughput["jobIds"] and throughput["records"] >= 40
    assert throughput["outputTokens"] > 0 and found["runTimeUnknown"] is None
    expected = 400 / throughput["recordsPerSecond"]
    assert found["runTimeSeconds"]["byRecords"] == pytest.approx(expected)
    slow = batchrock("estimate", str(source), "--model", "slow.model-v1", "--catalog", ECHO_CATALOG,
                     "--endpoint-url", echo_server.url)
    assert slow.code == 0 and "Run time: not known (no Completed job of this backend model at" in slow.out
