"""``batchrock retry-failed``: a new job over the records a job failed (``followup.retry`` says how)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from batchrock.catalog import Catalog
from batchrock.cli.client import bedrock_client, endpoint_url
from batchrock.cli.results import add_server_flags, objects_from, reporting
from batchrock.followup.jobinfo import describe_job
from batchrock.followup.retry import RETRY_FILE, RerunCheck, retry_failed

DESCRIPTION = (f"Write the failed (error) records of a job that has ended as a new {RETRY_FILE}, with their "
               "recordIds (leaving out those that would fail the same way: a line that is not a record, a "
               "modelInput the model's request schema refuses), and create a job over it with the same model, "
               "role, output location, timeout and tags. By default the file goes to "
               f"retry/<jobId>/{RETRY_FILE} beside the job's input folder (input s3://b/in/ -> "
               f"s3://b/retry/<jobId>/{RETRY_FILE}). Prints the new job's ARN; with no failed record that can "
               "succeed, says so and exits 1 without creating a job.")
EXAMPLE = """examples:
  batchrock retry-failed abcdefghij12
  batchrock retry-failed abcdefghij12 --job-name nightly-retry --input-uri s3://my-bucket/retries/
  batchrock watch "$(batchrock retry-failed abcdefghij12 --data-dir ./data)"
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("retry-failed", help="create a job over the failed records of a job",
                                   description=DESCRIPTION, epilog=EXAMPLE,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", metavar="JOB", help="job ARN or 12-character id")
    parser.add_argument("--job-name", help="the new job's name (default: <job name>-retry-<6 hex digits>)")
    parser.add_argument("--input-uri", help=f"where to write the failed records: an s3:// .jsonl object, or a prefix "
                                            f"to write {RETRY_FILE} under; it must not exist yet")
    parser.add_argument("--catalog", type=Path, default=os.environ.get("BATCHROCK_CATALOG"),
                        help="the model catalog the job's format is read from (default: the built-in catalog)")
    add_server_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return reporting("retry-failed", lambda: _retry(args))


def _retry(args: argparse.Namespace) -> int:
    client = bedrock_client(endpoint_url(args.endpoint_url))
    job = describe_job(client, args.job)
    check = RerunCheck.for_job(job, Catalog.load(args.catalog))
    retry = retry_failed(client, objects_from(args), job, check, args.input_uri, args.job_name)
    written = retry.input
    print(f"Wrote {_count(written.records)} of job {job.job_id} to {written.location}.", file=sys.stderr)
    if written.left_out:
        print(f"Left out {_count(written.left_out)} that would fail the same way (the first: {written.first_reason}).",
              file=sys.stderr)
    print(f"Created job {retry.name}:", file=sys.stderr)
    print(retry.arn)
    return 0


def _count(records: int) -> str:
    return "1 failed record" if records == 1 else f"{records} failed records"
