"""``batchrock models``: what the model catalog serves."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from batchrock.catalog import Catalog

EXAMPLE = """example:
  batchrock models
  batchrock models --catalog my-catalog.toml
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("models", help="list the model ids the catalog serves",
                                   description="List the Bedrock model ids the model catalog maps to a backend.",
                                   epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=os.environ.get("BATCHROCK_CATALOG"),
                        help="model catalog TOML file (default: the built-in catalog)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    catalog = Catalog.load(args.catalog)
    table = Table(title="batchrock model catalog")
    for column in ("model id (pattern)", "format", "backend", "backend model"):
        table.add_column(column)
    for pattern, fmt, backend in catalog.listing():
        options = catalog.backends[backend]
        backend_model = str(options.get("model_path") or options.get("model") or "")
        table.add_row(pattern, fmt, f"{backend} ({options['backend']})", backend_model)
    Console(width=200).print(table)
    return 0
