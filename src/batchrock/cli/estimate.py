"""``batchrock estimate``: records, tokens and run time of a batch input, before it runs
(``followup.estimate``, ``followup.tokens`` and ``followup.throughput`` say how each is found)."""

from __future__ import annotations

import argparse
import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from batchrock.catalog import Catalog
from batchrock.cli.client import bedrock_client, endpoint_url
from batchrock.cli.results import add_storage_flags, objects_from, reporting
from batchrock.followup.estimate import Estimate, InputFile, estimate, local_input_files, model_entry, s3_input_files
from batchrock.followup.throughput import RunTime, Throughput, measured_throughput, run_time

DESCRIPTION = ("Count the records of a batch input and their input tokens with the model's own tokenizer "
               "(llama.cpp models; an approximation for others, and the output says so), bound the output tokens "
               "by each record's max tokens, and estimate the run time from the server's recent Completed jobs of "
               "the same backend model (output tokens and records over endTime - submitTime).")
EXAMPLE = """examples:
  batchrock estimate prompts.jsonl --model anthropic.claude-3-haiku-20240307-v1:0
  batchrock estimate s3://my-bucket/input/ --model meta.llama3-1-8b-instruct-v1:0 --data-dir ./data --json
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("estimate", help="records, tokens and run time of a batch input, before it runs",
                                   description=DESCRIPTION, epilog=EXAMPLE,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="INPUT", help="an s3:// .jsonl object or prefix, or a local file or folder")
    parser.add_argument("--model", required=True, help="a Bedrock model id from `batchrock models`")
    parser.add_argument("--invocation-type", choices=["InvokeModel", "Converse"], default="InvokeModel",
                        help="Converse: the records are Converse requests (default %(default)s)")
    parser.add_argument("--catalog", type=Path, default=os.environ.get("BATCHROCK_CATALOG"),
                        help="model catalog TOML file (default: the built-in catalog)")
    parser.add_argument("--endpoint-url", help="the batchrock server whose completed jobs give the throughput "
                                               "(default BATCHROCK_ENDPOINT_URL or http://127.0.0.1:8787)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return reporting("estimate", lambda: _estimate(args))


def _estimate(args: argparse.Namespace) -> int:
    catalog = Catalog.load(args.catalog)
    found = estimate(_input_files(args), args.model, catalog, args.invocation_type == "Converse")
    endpoint = endpoint_url(args.endpoint_url)
    throughput, unknown = _throughput(endpoint, catalog, args.model)
    timing = run_time(found.tally.runnable, found.tally.output_token_bound, throughput) if throughput else None
    if args.json:
        print(json.dumps(_as_json(args.input, found, throughput, timing, unknown), indent=2))
    else:
        print("\n".join(_report(args.input, found, endpoint, throughput, timing, unknown)))
    return 0


def _input_files(args: argparse.Namespace) -> list[InputFile]:
    if args.input.startswith("s3://"):
        return s3_input_files(objects_from(args), args.input)
    return local_input_files(Path(args.input))


def _throughput(endpoint: str, catalog: Catalog, model_id: str) -> tuple[Throughput | None, str]:
    """The measured throughput, or why there is none."""
    if not _listening(endpoint):
        return None, f"no batchrock server answers at {endpoint}"
    try:
        measured = measured_throughput(bedrock_client(endpoint), catalog, model_entry(catalog, model_id))
    except ClientError as error:
        return None, f"the server at {endpoint} answered {error.response.get('Error', {}).get('Code')}"
    except BotoCoreError:
        return None, f"no batchrock server answers at {endpoint}"
    return measured, "" if measured else f"no Completed job of this backend model at {endpoint}"


def _listening(endpoint: str) -> bool:
    """Whether anything accepts connections there: an estimate need not wait out the client's retries to learn it."""
    address = urlparse(endpoint)
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        with socket.create_connection((address.hostname or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _report(source: str, found: Estimate, endpoint: str, throughput: Throughput | None, timing: RunTime | None,
            unknown: str) -> list[str]:
    tally = found.tally
    lines = [f"Input: {source}: {_count(found.files, 'file')}, {_count(tally.records, 'record')}, "
             f"{tally.runnable} would run",
             f"Model: {found.model_id} (format {found.format}, backend {found.backend})"]
    if tally.refused:
        lines.append(f"  {_count(tally.refused, 'error record')} (the first: {tally.first_problem})")
    if tally.too_long:
        lines.append(f"  {_count(tally.too_long, 'error record')}: the prompt does not fit the model's context")
    lines += [f"Input tokens: {tally.input_tokens} ({found.tokenizer})",
              f"Output tokens: at most {tally.output_token_bound} (each record's max tokens"
              + (", capped by the room its prompt leaves in the context)" if found.exact else ")")]
    if throughput is None or timing is None:
        return [*lines, f"Run time: not known ({unknown})"]
    return [*lines, *_timing_lines(endpoint, throughput, timing)]


def _timing_lines(endpoint: str, throughput: Throughput, timing: RunTime) -> list[str]:
    line = f"Run time: about {_duration(timing.by_records)} at {throughput.records_per_second:.3g} records/s"
    if timing.by_token_bound is not None:
        line += (f"; up to {_duration(timing.by_token_bound)} if every record writes its max tokens, at "
                 f"{throughput.tokens_per_second:.3g} output tokens/s")
    return [line, f"  measured on the latest {_count(len(throughput.job_ids), 'Completed job')} of this backend model "
                  f"at {endpoint}: output tokens and records over endTime - submitTime, which includes validation "
                  "and queueing"]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _duration(seconds: float) -> str:
    rounded = round(seconds)
    if rounded < 60:
        return f"{seconds:.3g} s"
    hours, rest = divmod(rounded, 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


def _as_json(source: str, found: Estimate, throughput: Throughput | None, timing: RunTime | None,
             unknown: str) -> dict[str, Any]:
    tally = found.tally
    return {"input": source, "modelId": found.model_id, "format": found.format, "backend": found.backend,
            "files": found.files, "records": tally.records, "runnable": tally.runnable,
            "refusedRecords": tally.refused, "tooLongRecords": tally.too_long, "firstProblem": tally.first_problem,
            "inputTokens": tally.input_tokens, "inputTokensExact": found.exact, "tokenizer": found.tokenizer,
            "outputTokenBound": tally.output_token_bound,
            "throughput": None if throughput is None else _throughput_json(throughput),
            "runTimeSeconds": None if timing is None else {"byRecords": timing.by_records,
                                                          "byOutputTokenBound": timing.by_token_bound},
            "runTimeUnknown": unknown or None}


def _throughput_json(throughput: Throughput) -> dict[str, Any]:
    return {"jobIds": list(throughput.job_ids), "outputTokens": throughput.output_tokens,
            "records": throughput.records, "seconds": throughput.seconds,
            "outputTokensPerSecond": throughput.tokens_per_second, "recordsPerSecond": throughput.records_per_second}
