"""The reference clients: boto3, the real ``aws`` CLI, and raw SigV4-signed HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/batch"


def bedrock(url: str, account: str = ACCOUNT, region: str = REGION, retries: int = 0) -> Any:
    return boto3.client(
        "bedrock",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": retries + 1, "mode": "standard"}),
    )


def aws_env(account: str = ACCOUNT, region: str = REGION) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=account,
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_MAX_ATTEMPTS="1",
    )
    return env


def aws(url: str, *args: str, account: str = ACCOUNT, region: str = REGION) -> subprocess.CompletedProcess[str]:
    """The real AWS CLI v1 (``python -m awscli``) against the server."""
    command = [sys.executable, "-m", "awscli", "bedrock", *args, "--endpoint-url", url]
    return subprocess.run(command, capture_output=True, text=True, env=aws_env(account, region), timeout=60)


@dataclass
class RawResponse:
    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body)

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")


def signed(url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
           account: str = ACCOUNT, region: str = REGION, sign: bool = True) -> RawResponse:
    """Send a SigV4-signed request exactly as given, bypassing botocore's client-side checks."""
    request = AWSRequest(method=method, url=url + path, data=body, headers=dict(headers or {}))
    if sign:
        SigV4Auth(Credentials(account, "secret"), "bedrock", region).add_auth(request)
    prepared = request.prepare()
    response = httpx.request(method, prepared.url, content=body, headers=dict(prepared.headers.items()), timeout=30)
    return RawResponse(response.status_code, response.headers, response.content)
