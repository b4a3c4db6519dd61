"""Who is calling: authenticate a request and name the account and region it acts in.

With a credentials file, every request's SigV4 signature is verified (``security/sigv4.py``)
and the account is the key's account. Without one (development mode, loopback only), any
well-formed, current signature is accepted and the account comes from the access key: a key of
12 digits is the account id, any other key maps to the default account.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from batchrock.errors import AccessDenied
from batchrock.jobs.model import Owner
from batchrock.security.credentials import CredentialsFile
from batchrock.security.sigv4 import Claim, SignedRequest, UnrecognizedClient, check_time, read_claim, verify

_ACCOUNT_KEY = re.compile(r"[0-9]{12}")


@dataclass(frozen=True)
class Caller:
    owner: Owner


class Authenticator:
    def __init__(self, credentials: CredentialsFile | None, default_account: str, now: Callable[[], datetime],
                 regions: frozenset[str] | None = None) -> None:
        self.credentials = credentials
        self.default_account = default_account
        self.now = now
        self.regions = regions

    def authenticate(self, request: SignedRequest) -> Caller:
        claim = read_claim(request)
        check_time(claim, self.now())
        if self.regions is not None and claim.region not in self.regions:
            raise AccessDenied(f"This server does not serve the region {claim.region}.")
        return Caller(Owner(self._account(request, claim), claim.region))

    def _account(self, request: SignedRequest, claim: Claim) -> str:
        if self.credentials is None:
            return claim.access_key if _ACCOUNT_KEY.fullmatch(claim.access_key) else self.default_account
        principal = self.credentials.current().keys.get(claim.access_key)
        if principal is None:
            raise UnrecognizedClient("The security token included in the request is invalid.")
        verify(request, claim, principal.secret_access_key)
        return principal.account_id
