"""``batchrock resume``: resume jobs that failed because storage stayed unreachable, or whose
output failed the end-of-job check.

Failed is a terminal status, as in Bedrock; this operator command is the one way out of it, and
only for failures that were the world's fault (``FailureKind``), not the job's. A resumed job goes
back to Scheduled and continues from its last checkpoint: records already written are not run again.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path

from batchrock.engine.lifecycle import resume_failed
from batchrock.jobs.clock import SystemClock
from batchrock.jobs.ids import parse_job_reference
from batchrock.jobs.store import JobStore, StoreUnwritable
from batchrock.settings import Settings, default_data_dir
from batchrock.store.factory import store_for

DESCRIPTION = ("Move jobs that failed because storage stayed unreachable, or whose output failed the end-of-job "
               "check, back to Scheduled; a worker continues each from its last checkpoint. Other failed jobs "
               "stay Failed.")
EXAMPLE = """examples:
  batchrock resume abcd1234efgh               # one job, by id or ARN
  batchrock resume --all --data-dir ./data    # every job that failed on a storage error or the output check
  batchrock serve --resume-failed             # the same, when the server starts
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("resume",
                                   help="resume jobs that failed because storage was unreachable or their output check failed",
                                   description=DESCRIPTION, epilog=EXAMPLE,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jobs", nargs="*", metavar="JOB", help="job ids or ARNs")
    parser.add_argument("--all", action="store_true", help="every job that failed on a storage error or the output check")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the job store lives (default ~/.batchrock)")
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL of the job store (default: SQLite in the data dir)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.jobs) == args.all:
        print("batchrock resume: name the jobs to resume, or pass --all", file=sys.stderr)
        return 2
    references = {job: parse_job_reference(job) for job in args.jobs}
    unnamed = [job for job, reference in references.items() if reference is None]
    if unnamed:
        print(f"batchrock resume: not a model invocation job id or ARN: {', '.join(unnamed)}", file=sys.stderr)
        return 2
    wanted = None if args.all else [reference[1] for reference in references.values() if reference]
    settings = Settings(data_dir=args.data_dir or default_data_dir(), database_url=args.database_url)
    try:
        with closing(store_for(settings)) as store:
            return _resume(store, wanted, args.all)
    except StoreUnwritable as problem:
        print(f"batchrock resume: the job store cannot be written ({problem.reason})", file=sys.stderr)
        return 1


def _resume(store: JobStore, wanted: list[str] | None, everything: bool) -> int:
    resumed = resume_failed(store, wanted, SystemClock().now())
    for job_id in resumed:
        print(f"resumed {job_id}: Scheduled; a worker continues it from its last checkpoint")
    refused = [job_id for job_id in wanted or [] if job_id not in resumed]
    for job_id in refused:
        print(f"batchrock resume: {job_id}: {_why_not(store, job_id)}", file=sys.stderr)
    if everything and not resumed:
        print("no job to resume: none failed on a storage error or the output check")
    return 1 if refused else 0


def _why_not(store: JobStore, job_id: str) -> str:
    job = store.get_job_by_id(job_id)
    if job is None:
        return "no such job in this job store"
    return f"it is {job.status.value}; only jobs that failed on a storage error or the output check can be resumed"
