"""``batchrock COMMAND`` against ``aws bedrock COMMAND``: same stdout, stderr and exit code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import ROLE, aws, aws_env
from tests.support.server import ServerProcess

CREATE_ARGS = ["--role-arn", ROLE, "--model-id", "anthropic.claude-3-haiku-20240307-v1:0",
               "--input-data-config", "s3InputDataConfig={s3Uri=s3://bucket/in/}",
               "--output-data-config", "s3OutputDataConfig={s3Uri=s3://bucket/out/}"]


def batchrock(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "batchrock.cli.main", *args, "--endpoint-url", url]
    return subprocess.run(command, capture_output=True, text=True, env=env or aws_env(), timeout=60)


def substitute(part: str, names: dict[str, str]) -> str:
    for name, value in names.items():
        part = part.replace("{" + name + "}", value)
    return part


def normalized(text: str) -> str:
    return re.sub(r"^[\w.]+: error:", "PROG: error:", text, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server without workers, so job states stay put between the two CLIs' calls."""
    server = ServerProcess(tmp_path_factory.mktemp("parity") / "data", extra_args=("--no-worker",)).start()
    arns = []
    for index in range(3):
        done = aws(server.url, "create-model-invocation-job", *CREATE_ARGS, "--job-name", f"parity-{index}",
                   "--tags", "key=team,value=ml", "key=env,value=dev")
        arns.append(json.loads(done.stdout)["jobArn"])
    aws(server.url, "stop-model-invocation-job", "--job-identifier", arns[1])
    yield {"url": server.url, "arns": arns}
    server.stop()


CASES = [
    ["get-model-invocation-job", "--job-identifier", "{arn0}"],
    ["get-model-invocation-job", "--job-identifier", "{id0}", "--output", "text"],
    ["get-model-invocation-job", "--job-identifier", "{arn0}", "--output", "table"],
    ["get-model-invocation-job", "--job-identifier", "{arn1}", "--query", "[status,endTime!=null]"],
    ["get-model-invocation-job", "--cli-input-json", '{"jobIdentifier": "{arn2}"}', "--output", "text"],
    ["list-model-invocation-jobs"],
    ["list-model-invocation-jobs", "--output", "text"],
    ["list-model-invocation-jobs", "--output", "table", "--sort-order", "Ascending"],
    ["list-model-invocation-jobs", "--query", "invocationJobSummaries[].[jobName,status]", "--output", "table"],
    ["list-model-invocation-jobs", "--status-equals", "Stopped", "--query", "invocationJobSummaries[].jobName"],
    ["list-model-invocation-jobs", "--max-items", "1"],
    ["list-model-invocation-jobs", "--page-size", "1", "--output", "text"],
    ["list-model-invocation-jobs", "--no-paginate", "--max-results", "2", "--query", "length(invocationJobSummaries)"],
    ["list-model-invocation-jobs", "--name-contains", "parity-2", "--output", "json", "--color", "off"],
    ["list-tags-for-resource", "--resource-arn", "{arn0}", "--output", "text"],
    ["list-tags-for-resource", "--resource-arn", "{arn0}", "--output", "table"],
    ["get-model-invocation-job", "--job-identifier", "zzzzzzzzzzzz"],
    ["stop-model-invocation-job", "--job-identifier", "{arn1}"],
    ["create-model-invocation-job", *CREATE_ARGS, "--job-name", "bad_name"],
    ["create-model-invocation-job", *CREATE_ARGS, "--job-name", "t", "--timeout-duration-in-hours", "500"],
    ["create-model-invocation-job", *CREATE_ARGS, "--job-name", "t", "--timeout-duration-in-hours", "5"],
    ["create-model-invocation-job", *CREATE_ARGS, "--generate-cli-skeleton", "output", "--job-name", "x"],
    ["create-model-invocation-job", *CREATE_ARGS, "--job-name", "x", "--generate-cli-skeleton", "output", "--output", "table"],
    ["stop-model-invocation-job", "--job-identifier", "{id0}", "--generate-cli-skeleton", "output"],
    ["get-model-invocation-job", "--generate-cli-skeleton"],
    ["tag-resource", "--generate-cli-skeleton", "input"],
    ["list-tags-for-resource", "--resource-arn", "{arn0}", "--generate-cli-skeleton", "output"],
    ["get-model-invocation-job"],
    ["get-model-invocation-job", "--job-identifier", "{arn0}", "--output", "yaml"],
    ["get-model-invocation-job", "--job-identifier", "{arn0}", "--cli-read-timeout", "5", "--cli-connect-timeout", "5",
     "--no-verify-ssl", "--ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "--region", "us-east-1", "--output", "text"],
    ["list-model-invocation-jobs", "--no-sign-request"],
]


@pytest.mark.parametrize("case", CASES, ids=[" ".join(case)[:60] for case in CASES])
def test_same_output_as_aws_cli(frozen: dict[str, Any], case: list[str]) -> None:
    names = {f"arn{i}": arn for i, arn in enumerate(frozen["arns"])}
    names.update({f"id{i}": arn.rsplit("/", 1)[1] for i, arn in enumerate(frozen["arns"])})
    args = [substitute(part, names) for part in case]
    theirs = aws(frozen["url"], *args)
    ours = batchrock(frozen["url"], *args)
    assert ((ours.returncode, ours.stdout, normalized(ours.stderr))
            == (theirs.returncode, theirs.stdout, normalized(theirs.stderr)))


def test_input_skeletons_have_the_same_shape(frozen: dict[str, Any]) -> None:
    for command in ("create-model-invocation-job", "list-model-invocation-jobs"):
        theirs = json.loads(aws(frozen["url"], command, "--generate-cli-skeleton").stdout)
        ours = json.loads(batchrock(frozen["url"], command, "--generate-cli-skeleton").stdout)
        assert list(ours) == list(theirs)  # enum samples are random in both


def test_output_skeleton_of_get_and_list_is_valid_where_aws_cli_fails(frozen: dict[str, Any]) -> None:
    for args in (["get-model-invocation-job", "--job-identifier", "abcdefghij12"], ["list-model-invocation-jobs"]):
        theirs = aws(frozen["url"], *args, "--generate-cli-skeleton", "output")
        assert theirs.returncode == 255 and "timeoutDurationInHours" in theirs.stderr
        ours = batchrock(frozen["url"], *args, "--generate-cli-skeleton", "output")
        assert ours.returncode == 0, ours.stderr
        document = json.loads(ours.stdout)
        job = document if "jobArn" in document else document["invocationJobSummaries"][0]
        assert job["timeoutDurationInHours"] == 24


def test_create_matches_and_defaults_reach_the_local_server(frozen: dict[str, Any], tmp_path: Path) -> None:
    created = batchrock(frozen["url"], "create-model-invocation-job", *CREATE_ARGS, "--job-name", "made-by-batchrock")
    assert created.returncode == 0 and json.loads(created.stdout)["jobArn"].startswith("arn:aws:bedrock:us-east-1:123456789012:")
    env = {key: value for key, value in aws_env().items() if not key.startswith(("AWS_ACCESS", "AWS_SECRET"))}
    env.update(BATCHROCK_ENDPOINT_URL=frozen["url"], AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), HOME=str(tmp_path))
    env.pop("AWS_DEFAULT_REGION")
    done = subprocess.run([sys.executable, "-m", "batchrock.cli.main", "list-model-invocation-jobs", "--query",
                           "length(invocationJobSummaries)"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "0", done.stderr  # dev credentials: account 000000000000


def test_version_and_help() -> None:
    version = subprocess.run([sys.executable, "-m", "batchrock.cli.main", "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("batchrock/0.1.0 aws-cli/")
    for command in ("serve", "worker", "run", "watch", "models", "get-model-invocation-job", "list-model-invocation-jobs"):
        helped = subprocess.run([sys.executable, "-m", "batchrock.cli.main", command, "--help"], capture_output=True, text=True)
        assert helped.returncode == 0 and "example:" in helped.stdout, command
