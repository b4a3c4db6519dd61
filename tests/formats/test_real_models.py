"""Real jobs on the real default models (SmolLM2 via llama.cpp, MiniLM via numpy), one per
format; every output record is checked against its format's response schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from tests.support.clients import bedrock
from tests.support.jobs import create_job, read_output_lines, wait_for, write_jsonl
from tests.support.server import ServerProcess

RUNTIME = botocore.session.get_session().get_service_model("bedrock-runtime")


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("real") / "data", extra_args=("--batch-size", "4")).start()
    yield server
    server.stop()


def run(server: ServerProcess, name: str, model: str, inputs: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    rows = [{"recordId": f"{name}{i}", "modelInput": body} for i, body in enumerate(inputs)]
    write_jsonl(server.data_dir / f"buckets/models/{name}/in.jsonl", rows)
    client = bedrock(server.url)
    arn = create_job(client, f"s3://models/{name}/", f"s3://models/{name}-out/", model=model, **extra)
    job = wait_for(client, arn, timeout=300)
    assert job["status"] == "Completed", job.get("message")
    lines = read_output_lines(server.data_dir / f"buckets/models/{name}-out" / arn.rsplit("/", 1)[1] / "in.jsonl.out")
    assert [line["recordId"] for line in lines] == [row["recordId"] for row in rows]
    return lines


def outputs(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    errors = [line["error"] for line in lines if "error" in line]
    assert not errors, errors
    return [line["modelOutput"] for line in lines]


def test_anthropic_messages(real_server: ServerProcess) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "temperature": 0,
            "system": "You are terse.", "messages": [{"role": "user", "content": [{"type": "text", "text": "Name a colour."}]}]}
    stop = {**body, "max_tokens": 40, "stop_sequences": [" "], "messages": [{"role": "user", "content": "Say: red green blue"}]}
    first, second, stopped = outputs(run(real_server, "claude", "us.anthropic.claude-3-haiku-20240307-v1:0", [body, body, stop]))
    for out in (first, stopped):
        assert out["type"] == "message" and out["role"] == "assistant" and out["id"].startswith("msg_")
        assert out["content"][0]["type"] == "text" and isinstance(out["content"][0]["text"], str)
        assert out["usage"]["input_tokens"] > 0 and 0 < out["usage"]["output_tokens"] <= 40
        assert out["model"] == "claude-3-haiku-20240307"
    assert first["stop_reason"] in ("end_turn", "max_tokens") and first["usage"]["output_tokens"] <= 8
    assert first["content"] == second["content"]  # temperature 0: same input, same output
    assert stopped["stop_reason"] == "stop_sequence" and stopped["stop_sequence"] == " "


def test_titan_text(real_server: ServerProcess) -> None:
    body = {"inputText": "Roses are red, violets are", "textGenerationConfig": {"maxTokenCount": 6, "temperature": 0}}
    (out,) = outputs(run(real_server, "titan", "amazon.titan-text-express-v1", [body]))
    assert out["inputTextTokenCount"] > 0
    (result,) = out["results"]
    assert result["completionReason"] in ("FINISH", "LENGTH") and 0 < result["tokenCount"] <= 6
    assert isinstance(result["outputText"], str)


def test_meta_llama_and_mistral(real_server: ServerProcess) -> None:
    (llama,) = outputs(run(real_server, "llama", "meta.llama3-1-8b-instruct-v1:0", [{"prompt": "Hello", "max_gen_len": 5}]))
    assert llama["stop_reason"] in ("stop", "length") and 0 < llama["generation_token_count"] <= 5
    assert llama["prompt_token_count"] > 0 and isinstance(llama["generation"], str)
    (mistral,) = outputs(run(real_server, "mistral", "mistral.mistral-7b-instruct-v0:2",
                             [{"prompt": "<s>[INST] Hi [/INST]", "max_tokens": 5}]))
    assert mistral["outputs"][0]["stop_reason"] in ("stop", "length") and isinstance(mistral["outputs"][0]["text"], str)


def test_nova(real_server: ServerProcess) -> None:
    body = {"schemaVersion": "messages-v1", "system": [{"text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}], "inferenceConfig": {"maxTokens": 6}}
    (out,) = outputs(run(real_server, "nova", "amazon.nova-lite-v1:0", [body]))
    assert out["output"]["message"]["role"] == "assistant" and out["stopReason"] in ("end_turn", "max_tokens")
    assert out["usage"]["totalTokens"] == out["usage"]["inputTokens"] + out["usage"]["outputTokens"]


def test_converse_output_matches_botocore_shape(real_server: ServerProcess) -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "Hello"}]}], "inferenceConfig": {"maxTokens": 6}}
    lines = run(real_server, "converse", "anthropic.claude-3-haiku-20240307-v1:0", [body], modelInvocationType="Converse")
    (out,) = outputs(lines)
    report = ParamValidator().validate(out, RUNTIME.shape_for("ConverseResponse"))
    assert not report.has_errors(), report.generate_report()


def test_titan_embeddings(real_server: ServerProcess) -> None:
    texts = ["A cat sits on the mat.", "A kitten is sitting on a rug.", "Quarterly revenue grew by ten percent."]
    lines = run(real_server, "embed", "amazon.titan-embed-text-v2:0", [{"inputText": t, "dimensions": 256} for t in texts])
    vectors = [out["embedding"] for out in outputs(lines)]
    assert all(len(v) == 256 for v in vectors)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert abs(dot(vectors[0], vectors[0]) - 1) < 1e-4
    assert dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2]) + 0.3
    (g1,) = outputs(run(real_server, "embedg1", "amazon.titan-embed-text-v1", [{"inputText": "hello"}]))
    assert len(g1["embedding"]) == 1536 and g1["inputTextTokenCount"] > 0


def test_invalid_requests_become_error_records_naming_the_field(real_server: ServerProcess) -> None:
    good = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}
    bad = [{**good, "temperature": 7}, {**good, "max_tokens": "many"},
           {"anthropic_version": "bedrock-2023-05-31", "messages": []}]
    lines = run(real_server, "bad", "anthropic.claude-3-haiku-20240307-v1:0", [good, *bad])
    assert "modelOutput" in lines[0]
    messages = [line["error"]["errorMessage"] for line in lines[1:]]
    assert "temperature" in messages[0] and "max_tokens" in messages[1] and "messages" in messages[2]
    assert all(line["error"]["errorCode"] == 400 for line in lines[1:])


def test_models_command_lists_the_catalog(real_server: ServerProcess) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "batchrock.cli.main", "models"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for fragment in ("anthropic.claude-*", "amazon.titan-embed-text-v2*", "llamacpp", "minilm", "titan-text"):
        assert fragment in done.stdout


def test_prompt_longer_than_the_context_is_an_error_record(real_server: ServerProcess) -> None:
    huge = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4, "messages": [{"role": "user", "content": "word " * 4000}]}
    small = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}
    lines = run(real_server, "huge", "anthropic.claude-3-haiku-20240307-v1:0", [huge, small])
    assert lines[0]["error"]["errorCode"] == 400
    assert "tokens" in lines[0]["error"]["errorMessage"] and "2048" in lines[0]["error"]["errorMessage"]
    assert "modelOutput" in lines[1]
