"""``batchrock run`` and ``batchrock watch``: from a local JSONL file to results, with a live view."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from batchrock.cli.client import bedrock_client, endpoint_url, reachable, start_local_server, wait_until_reachable
from batchrock.cli.progress import watch
from batchrock.settings import DEFAULT_PORT, default_data_dir

RUNS_BUCKET = "batchrock-runs"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/batchrock-local"
RUN_EXAMPLE = """example:
  batchrock run examples/prompts.jsonl --model anthropic.claude-3-haiku-20240307-v1:0 --output results/
  batchrock run prompts.jsonl --model amazon.titan-embed-text-v2:0 --detach
"""
WATCH_EXAMPLE = """example:
  batchrock watch arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/abcdefghij12
"""


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run_parser = subparsers.add_parser("run", help="run a local JSONL file as a batch job and show its progress",
                                       description="Put INPUT in storage, create a job on it, show live progress, "
                                                   "then where the outputs are and a summary. "
                                                   "Starts a local server if none answers.",
                                       epilog=RUN_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_parser.add_argument("input", type=Path, help="a .jsonl file of {recordId, modelInput} records")
    run_parser.add_argument("--model", required=True, help="a Bedrock model id from `batchrock models`")
    run_parser.add_argument("--output", type=Path, help="copy the output files to this folder when the job ends")
    run_parser.add_argument("--detach", action="store_true", help="print the job ARN and return at once")
    run_parser.add_argument("--invocation-type", choices=["InvokeModel", "Converse"], default=None)
    run_parser.add_argument("--endpoint-url", help="batchrock server (default BATCHROCK_ENDPOINT_URL or http://127.0.0.1:8787)")
    run_parser.add_argument("--data-dir", type=Path, default=None, help="the local server's data dir (default ~/.batchrock)")
    run_parser.set_defaults(run=run)
    watch_parser = subparsers.add_parser("watch", help="show the live progress of a job",
                                         description="Show records done / total, errors, records/s, tokens/s "
                                                     "and ETA until the job ends.",
                                         epilog=WATCH_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    watch_parser.add_argument("job", help="job ARN or 12-character id")
    watch_parser.add_argument("--endpoint-url", help="batchrock server (default BATCHROCK_ENDPOINT_URL or http://127.0.0.1:8787)")
    watch_parser.set_defaults(run=run_watch)


def _ensure_server(client: Any, endpoint: str, data_dir: Path) -> None:
    if reachable(client):
        return
    parsed = urlparse(endpoint)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"batchrock run: no server answers at {endpoint}")
    log_path = data_dir / "server.log"
    pid = start_local_server(parsed.port or DEFAULT_PORT, data_dir, log_path)
    print(f"Started a local batchrock server (pid {pid}, log {log_path}).", file=sys.stderr)
    if not wait_until_reachable(client):
        raise SystemExit(f"batchrock run: the local server did not start; see {log_path}")


def _stage_input(source: Path, data_dir: Path) -> tuple[str, str]:
    """Copy INPUT into the local buckets; returns (input s3Uri, output s3Uri)."""
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    target = data_dir / "buckets" / RUNS_BUCKET / run_id / "input" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return f"s3://{RUNS_BUCKET}/{run_id}/input/{source.name}", f"s3://{RUNS_BUCKET}/{run_id}/output/"


def run(args: argparse.Namespace) -> int:
    if not args.input.is_file() or args.input.suffix != ".jsonl":
        raise SystemExit(f"batchrock run: {args.input} is not a .jsonl file")
    data_dir = args.data_dir or default_data_dir()
    endpoint = endpoint_url(args.endpoint_url)
    client = bedrock_client(endpoint)
    _ensure_server(client, endpoint, data_dir)
    input_uri, output_uri = _stage_input(args.input, data_dir)
    extra = {"modelInvocationType": args.invocation_type} if args.invocation_type else {}
    arn = client.create_model_invocation_job(
        jobName=f"run-{args.input.stem[:30].replace('_', '-')}-{uuid.uuid4().hex[:8]}".strip("-"), roleArn=LOCAL_ROLE,
        modelId=args.model, inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}}, **extra)["jobArn"]
    if args.detach:
        print(arn)
        return 0
    print(f"Job {arn}", file=sys.stderr)
    job = _watch_with_interrupt(client, arn)
    return _summary(job, data_dir / "buckets", output_uri, args.output)


def _watch_with_interrupt(client: Any, arn: str) -> dict[str, Any]:
    while True:
        try:
            return watch(lambda: client.get_model_invocation_job(jobIdentifier=arn))
        except KeyboardInterrupt:
            answer = _ask("\nStop the job? [y/N] ")
            if answer.strip().lower().startswith("y"):
                client.stop_model_invocation_job(jobIdentifier=arn)
                print("Stopping; waiting for the job to end.", file=sys.stderr)
            elif not sys.stdin.isatty() or answer == "":
                print(f"Left running: batchrock watch {arn}", file=sys.stderr)
                job: dict[str, Any] = client.get_model_invocation_job(jobIdentifier=arn)
                return job


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except (EOFError, KeyboardInterrupt):
        return ""


def _summary(job: dict[str, Any], buckets: Path, output_uri: str, copy_to: Path | None) -> int:
    job_id = job["jobArn"].rsplit("/", 1)[1]
    location = buckets / output_uri.removeprefix("s3://") / job_id
    print(f"Status: {job['status']}" + (f" ({job['message']})" if job.get("message") else ""))
    manifest_path = location / "manifest.json.out"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        print(f"Records: {manifest['processedRecordCount']}/{manifest['totalRecordCount']} processed, "
              f"{manifest['successRecordCount']} succeeded, {manifest['errorRecordCount']} errors; "
              f"tokens in {manifest['inputTokenCount']}, out {manifest['outputTokenCount']}")
    if copy_to is not None and location.is_dir():
        shutil.copytree(location, copy_to, dirs_exist_ok=True)
        location = copy_to
    print(f"Outputs: {location}")
    return 0 if job["status"] in ("Completed", "PartiallyCompleted") else 1


def run_watch(args: argparse.Namespace) -> int:
    client = bedrock_client(endpoint_url(args.endpoint_url))
    job = watch(lambda: client.get_model_invocation_job(jobIdentifier=args.job))
    print(f"Status: {job['status']}" + (f" ({job['message']})" if job.get("message") else ""))
    return 0 if job["status"] in ("Completed", "PartiallyCompleted") else 1
