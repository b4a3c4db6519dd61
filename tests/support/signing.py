"""Requests signed by botocore's SigV4 signer at a chosen time, then (optionally) tampered with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from unittest.mock import patch

import httpx
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(url: str, method: str, path: str, body: bytes, key: str, secret: str, *, region: str = "us-east-1",
         service: str = "bedrock", at: datetime | None = None, headers: dict[str, str] | None = None) -> AWSRequest:
    """botocore's own SigV4 signing, with its clock set to ``at``."""
    request = AWSRequest(method=method, url=url + path, data=body, headers=dict(headers or {}))
    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    with patch("botocore.auth.get_current_datetime", return_value=moment):
        SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return request


def presign(url: str, path: str, key: str, secret: str, expires: int = 300) -> str:
    request = AWSRequest(method="GET", url=url + path)
    SigV4QueryAuth(Credentials(key, secret), "bedrock", "us-east-1", expires=expires).add_auth(request)
    return str(request.url)


def send(request: AWSRequest, mutate: Callable[[dict], None] | None = None) -> httpx.Response:
    """Send a signed request; ``mutate`` may change {'method','url','headers','body'} after signing."""
    parts = {"method": request.method, "url": request.url, "headers": dict(request.headers.items()),
             "body": request.body or b""}
    if mutate is not None:
        mutate(parts)
    return httpx.request(parts["method"], parts["url"], headers=parts["headers"], content=parts["body"], timeout=30)
