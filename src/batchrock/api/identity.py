"""Who is calling: the account and region of a SigV4-signed request.

The region comes from the credential scope, the account from the access key: a key of 12
digits is the account id, any other key maps to the configured default account. The
signature itself is verified by the security layer when a credentials file is configured.
"""

from __future__ import annotations

import re
from typing import Mapping

from batchrock.errors import IncompleteSignature, MissingAuthenticationToken
from batchrock.jobs.model import Owner

_SCOPE = re.compile(r"(?P<key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]{1,32})/(?P<service>[a-z0-9-]+)/aws4_request")
_HEADER_CREDENTIAL = re.compile(r"AWS4-HMAC-SHA256\s+Credential=(?P<scope>[^,\s]+)")
_ACCOUNT_KEY = re.compile(r"[0-9]{12}")


def credential_scope(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    authorization = headers.get("authorization")
    if authorization:
        found = _HEADER_CREDENTIAL.match(authorization.strip())
        if found is None:
            raise IncompleteSignature("Authorization header requires a valid AWS4-HMAC-SHA256 Credential.")
        return found["scope"]
    if "X-Amz-Credential" in query:
        return query["X-Amz-Credential"]
    raise MissingAuthenticationToken("Missing Authentication Token")


def caller_owner(headers: Mapping[str, str], query: Mapping[str, str], default_account: str) -> Owner:
    scope = _SCOPE.fullmatch(credential_scope(headers, query))
    if scope is None:
        raise IncompleteSignature("The credential scope must be KEY/DATE/REGION/SERVICE/aws4_request.")
    account = scope["key"] if _ACCOUNT_KEY.fullmatch(scope["key"]) else default_account
    return Owner(account_id=account, region=scope["region"])
