"""The ``batchrock`` command: operator commands and the AWS-shaped job commands."""

from __future__ import annotations

import argparse
import sys

from batchrock import __version__
from batchrock.cli import models, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchrock", description="Self-hosted Bedrock batch inference.")
    parser.add_argument("--version", action="version", version=f"batchrock {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.add_parser(subparsers)
    models.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
