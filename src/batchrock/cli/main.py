"""The ``batchrock`` command: operator commands and the AWS-shaped job commands."""

from __future__ import annotations

# First: the AWS CLI may carry its own botocore, and importing it before anything else makes
# `botocore` that copy, so the AWS-shaped commands behave byte for byte like `aws bedrock`.
import awscli  # noqa: F401  isort:skip

import argparse
import sys

from batchrock.catalog import CatalogError
from batchrock.cli import aws, estimate, models, results, resume, retry_failed, run, serve, worker


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchrock", description="Self-hosted Bedrock batch inference.")
    parser.add_argument("--version", action="version", version=aws.version_line())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.add_parser(subparsers)
    models.add_parser(subparsers)
    worker.add_parser(subparsers)
    resume.add_parser(subparsers)
    run.add_parsers(subparsers)
    results.add_parser(subparsers)
    retry_failed.add_parser(subparsers)
    estimate.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in aws.COMMANDS:
        return aws.run_aws_command(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except CatalogError as error:  # a catalog the user wrote: say what is wrong in it, not where we noticed
        raise SystemExit(f"batchrock: {error}") from None


if __name__ == "__main__":
    sys.exit(main())
