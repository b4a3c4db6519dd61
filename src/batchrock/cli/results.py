"""``batchrock results``: every record of a job as one JSON line, input beside output, in input order.

Also the flags and error reporting the follow-up commands (``retry-failed``, ``estimate``) share:
the server is found as ``batchrock run`` finds it, storage as ``batchrock serve`` opens it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from batchrock.cli.client import bedrock_client, endpoint_url
from batchrock.followup.errors import FollowupError
from batchrock.followup.jobinfo import describe_job, object_store
from batchrock.followup.joined import joined_records
from batchrock.followup.results import write_results, write_results_file
from batchrock.settings import default_data_dir
from batchrock.storage.base import ObjectStore, StorageError

DESCRIPTION = ("Join a job's output files to its input files and write every record as one JSON line, in input "
               "order: recordId, status (succeeded, failed or notRun), file, modelInput, and modelOutput or error. "
               "Records without output (a stopped or timed-out job, or one still running) are notRun.")
EXAMPLE = """examples:
  batchrock results abcdefghij12 > results.jsonl                      # local buckets in ~/.batchrock
  batchrock results abcdefghij12 --data-dir ./data --output results.jsonl
  batchrock results arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/abcdefghij12 \\
      --s3-endpoint-url http://127.0.0.1:8333 --endpoint-url http://127.0.0.1:8787
  batchrock results abcdefghij12 | jq -c 'select(.status == "failed") | {recordId, error}'
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("results", help="a job's records, input beside output, one JSON line each",
                                   description=DESCRIPTION, epilog=EXAMPLE,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", metavar="JOB", help="job ARN or 12-character id")
    parser.add_argument("--output", type=Path, help="write the lines to this file (default: standard output)")
    add_server_flags(parser)
    parser.set_defaults(run=run)


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url",
                        help="batchrock server (default BATCHROCK_ENDPOINT_URL or http://127.0.0.1:8787)")
    add_storage_flags(parser)


def add_storage_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--s3-endpoint-url", default=os.environ.get("BATCHROCK_S3_ENDPOINT_URL"),
                        help="the server's S3-compatible endpoint (default BATCHROCK_S3_ENDPOINT_URL; none: the "
                             "local buckets in --data-dir); credentials from the standard AWS chain")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the server's data dir, whose buckets/ folder holds s3:// objects when there is no "
                             "S3 endpoint (default BATCHROCK_DATA_DIR or ~/.batchrock)")


def objects_from(args: argparse.Namespace) -> ObjectStore:
    return object_store(args.s3_endpoint_url, args.data_dir or default_data_dir())


def reporting(command: str, action: Callable[[], int]) -> int:
    """Run ``action``; a failure the user can act on is one line on stderr and exit status 1."""
    try:
        return action()
    except ClientError as error:
        details = error.response.get("Error", {})
        print(f"batchrock {command}: {details.get('Code')}: {details.get('Message')}", file=sys.stderr)
    except (BotoCoreError, FollowupError, StorageError, ValueError) as error:
        print(f"batchrock {command}: {error}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    return reporting("results", lambda: _results(args))


def _results(args: argparse.Namespace) -> int:
    job = describe_job(bedrock_client(endpoint_url(args.endpoint_url)), args.job)
    if not job.ended:
        print(f"batchrock results: job {job.job_id} is {job.status.value}: records without output so far are "
              "notRun", file=sys.stderr)
    records = joined_records(objects_from(args), job)
    if args.output is not None:
        counts = write_results_file(records, args.output)
    else:
        try:
            counts = write_results(records, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # the reader stopped early (``| head``): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    print(counts.summary(), file=sys.stderr)
    return 0
