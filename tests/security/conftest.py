from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.server import ServerProcess

ECHO_CATALOG = str(Path(__file__).resolve().parents[1] / "support" / "echo_catalog.toml")
ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
KEY_A, SECRET_A = "AKIDACCOUNTA", "secret-of-account-a"
KEY_B, SECRET_B = "AKIDACCOUNTB", "secret-of-account-b"
ROLE_A = f"arn:aws:iam::{ACCOUNT_A}:role/batch"
ROLE_B = f"arn:aws:iam::{ACCOUNT_B}:role/batch"

CREDENTIALS = f"""
[[accounts]]
id = "{ACCOUNT_A}"
  [[accounts.keys]]
  access_key_id = "{KEY_A}"
  secret_access_key = "{SECRET_A}"
  [[accounts.roles]]
  arn = "{ROLE_A}"
  read = ["s3://inputs/team-a/"]
  write = ["s3://outputs/team-a/"]

[[accounts]]
id = "{ACCOUNT_B}"
  [[accounts.keys]]
  access_key_id = "{KEY_B}"
  secret_access_key = "{SECRET_B}"
  [[accounts.roles]]
  arn = "{ROLE_B}"
  read = ["s3://inputs/team-b/"]
  write = ["s3://outputs/team-b/"]

[[buckets]]
name = "inputs"
owner = "{ACCOUNT_A}"

[[buckets]]
name = "outputs"
owner = "{ACCOUNT_A}"
"""


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("secure")
    credentials = root / "credentials.toml"
    credentials.write_text(CREDENTIALS)
    server = ServerProcess(root / "data", extra_args=("--credentials-file", str(credentials), "--catalog", ECHO_CATALOG,
                                                      "--body-timeout-seconds", "2", "--lease-seconds", "2")).start()
    yield {"server": server, "url": server.url, "credentials": credentials, "data": root / "data"}
    server.stop()


def client(url: str, key: str = KEY_A, secret: str = SECRET_A, region: str = "us-east-1") -> Any:
    from botocore.config import Config

    return boto3.client("bedrock", endpoint_url=url, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))


def snapshot(data: Path) -> tuple[int, str]:
    """(number of jobs, digest of every file under the buckets): what an attack must not change."""
    import sqlite3

    with sqlite3.connect(data / "batchrock.db") as conn:
        jobs = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    digest = hashlib.sha256()
    buckets = data / "buckets"
    for path in sorted(buckets.rglob("*")) if buckets.exists() else []:
        digest.update(str(path.relative_to(buckets)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return jobs, digest.hexdigest()


def environment(key: str, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_MAX_ATTEMPTS="1")
    return env
