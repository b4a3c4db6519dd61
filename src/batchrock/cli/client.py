"""A botocore Bedrock client for the operator commands, with the same local defaults as the AWS-shaped ones."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from batchrock.cli.aws import DEFAULT_ENDPOINT, DEV_ACCESS_KEY, DEV_SECRET_KEY
from batchrock.settings import DEFAULT_REGION


def endpoint_url(explicit: str | None) -> str:
    return explicit or os.environ.get("BATCHROCK_ENDPOINT_URL") or DEFAULT_ENDPOINT


def bedrock_client(endpoint: str) -> Any:
    session = botocore.session.get_session()
    credentials = session.get_credentials()
    region = session.get_config_variable("region") or DEFAULT_REGION
    keys = {} if credentials else {"aws_access_key_id": DEV_ACCESS_KEY, "aws_secret_access_key": DEV_SECRET_KEY}
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=30)
    return session.create_client("bedrock", endpoint_url=endpoint, region_name=region, config=config, **keys)


def reachable(client: Any) -> bool:
    try:
        client.list_model_invocation_jobs(maxResults=1)
        return True
    except EndpointConnectionError:
        return False


def start_local_server(port: int, data_dir: Path, log_path: Path) -> int:
    """Start ``batchrock serve`` in the background (its own session, so it outlives this command)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:  # the server writes to its own copy of the descriptor
        process = subprocess.Popen([sys.executable, "-m", "batchrock.cli.main", "serve", "--port", str(port),
                                    "--data-dir", str(data_dir)], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    return process.pid


def wait_until_reachable(client: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable(client):
            return True
        time.sleep(0.2)
    return False
