"""AWS Signature Version 4 verification, for the Authorization header and presigned URLs.

The expected signature is computed with botocore's own SigV4 signer over the request as
received (method, raw path, query, the headers the client signed, and the body), then
compared in constant time. Errors carry the codes AWS uses, with messages that help an honest
client and tell an attacker nothing about which keys exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from batchrock.errors import AuthenticationError, IncompleteSignature, MissingAuthenticationToken

SERVICE = "bedrock"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
                   r"Signature=(?P<signature>[0-9a-f]{64})")
_SCOPE = re.compile(r"(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]{1,32})/(?P<service>[a-z0-9-]+)/aws4_request")
_STAMP = "%Y%m%dT%H%M%SZ"


class InvalidSignature(AuthenticationError):
    code = "InvalidSignatureException"


class UnrecognizedClient(AuthenticationError):
    code = "UnrecognizedClientException"


@dataclass(frozen=True)
class SignedRequest:
    method: str
    scheme: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True)
class Claim:
    """What a request says about itself before its signature is checked."""

    access_key: str
    region: str
    stamp: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool
    expires: int = 0


def read_claim(request: SignedRequest) -> Claim:
    authorization = request.headers.get("authorization")
    if authorization:
        found = _AUTH.fullmatch(authorization.strip())
        if found is None:
            raise IncompleteSignature("Authorization header requires Credential, SignedHeaders and Signature (AWS4-HMAC-SHA256).")
        scope, signed, signature = found["credential"], found["signed"], found["signature"]
        stamp, presigned, expires = request.headers.get("x-amz-date", ""), False, 0
    else:
        query = dict(parse_qsl(request.raw_query, keep_blank_values=True))
        if "X-Amz-Signature" not in query:
            raise MissingAuthenticationToken("Missing Authentication Token")
        if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise IncompleteSignature("X-Amz-Algorithm must be AWS4-HMAC-SHA256.")
        scope, signed = query.get("X-Amz-Credential", ""), query.get("X-Amz-SignedHeaders", "")
        signature = query["X-Amz-Signature"]
        stamp, presigned = query.get("X-Amz-Date", ""), True
        expires = int(query.get("X-Amz-Expires", "0")) if query.get("X-Amz-Expires", "0").isdigit() else -1
    parts = _SCOPE.fullmatch(scope)
    if parts is None:
        raise IncompleteSignature("The credential scope must be KEY/DATE/REGION/SERVICE/aws4_request.")
    if parts["service"] != SERVICE:
        raise InvalidSignature(f"Credential should be scoped to correct service: '{SERVICE}'.")
    names = tuple(signed.split(";"))
    if "host" not in names or (not presigned and "x-amz-date" not in names):
        raise InvalidSignature("The host and x-amz-date headers must be signed.")
    if not stamp or stamp[:8] != parts["date"]:
        raise InvalidSignature("The credential scope date must match the request date (x-amz-date).")
    return Claim(parts["key"], parts["region"], stamp, names, signature, presigned, expires)


def check_time(claim: Claim, now: datetime) -> None:
    try:
        stamp = claim.stamp
        if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z":
            raise ValueError(stamp)
        moment = datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]),
                          int(stamp[13:15]), tzinfo=UTC)
    except ValueError:
        raise IncompleteSignature("x-amz-date must be in the form YYYYMMDDTHHMMSSZ.") from None
    if claim.presigned:
        if not 0 < claim.expires <= MAX_PRESIGN_SECONDS:
            raise InvalidSignature(f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds.")
        if now > moment + timedelta(seconds=claim.expires) or moment - now > MAX_SKEW:
            raise InvalidSignature("Request has expired.")
        return
    if abs(now - moment) > MAX_SKEW:
        raise InvalidSignature(f"Signature expired: {claim.stamp} is outside the 15 minute window around "
                               f"{now.strftime(_STAMP)}.")


def check_payload_hash(request: SignedRequest) -> None:
    declared = request.headers.get("x-amz-content-sha256")
    if declared and declared != "UNSIGNED-PAYLOAD" and declared != hashlib.sha256(request.body).hexdigest():
        raise InvalidSignature("The provided x-amz-content-sha256 header does not match what was computed.")


def expected_signature(request: SignedRequest, claim: Claim, secret: str) -> str:
    credentials = Credentials(claim.access_key, secret)
    query = request.raw_query
    if claim.presigned:
        query = "&".join(part for part in query.split("&") if not part.startswith("X-Amz-Signature="))
        signer: SigV4Auth = SigV4QueryAuth(credentials, SERVICE, claim.region, expires=claim.expires)
    else:
        signer = SigV4Auth(credentials, SERVICE, claim.region)
    host = request.headers.get("host", "")
    url = f"{request.scheme}://{host}{request.raw_path}" + (f"?{query}" if query else "")
    headers = {name: request.headers.get(name, "") for name in claim.signed_headers}
    aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
    aws_request.context["timestamp"] = claim.stamp
    canonical = signer.canonical_request(aws_request)
    signature: str = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    return signature


def verify(request: SignedRequest, claim: Claim, secret: str) -> None:
    check_payload_hash(request)
    if not hmac.compare_digest(expected_signature(request, claim, secret), claim.signature):
        raise InvalidSignature("The request signature we calculated does not match the signature you provided. "
                               "Check your AWS Secret Access Key and signing method.")
