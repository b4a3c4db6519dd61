"""Who is looking at the console: the session cookie, signing in, and the CSRF token.

The cookie is Starlette's SessionMiddleware (itsdangerous-signed, HttpOnly, SameSite=Lax, path
``/console``), keyed by a key derived from the server's secret. It holds a CSRF token (made on
the first visit, so the sign-in form is protected too), the region the console shows and, once
signed in, the access key id with a keyed digest of its secret: a key removed from the
credentials file, or given a new secret, ends its sessions at the next request.

With no credentials file (development mode, which the server only runs on loopback unless told
``--allow-insecure``) nobody signs in: the console is the default account, as the API is for
an access key that names no account.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from batchrock.jobs.model import Owner
from batchrock.security.credentials import CredentialsFile, Principal
from batchrock.settings import DEFAULT_REGION, Settings

COOKIE_NAME = "batchrock_console"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
_REGION = re.compile(r"[a-z0-9-]{1,20}")  # what a job ARN allows


def derived_key(secret: bytes, purpose: str) -> bytes:
    """A key of its own for each use of the server's secret (the cookie signer, the secret digests)."""
    return hmac.new(secret, f"batchrock console: {purpose}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class ConsoleSession:
    csrf: str
    region: str
    access_key: str | None = None
    proof: str | None = None  # keyed digest of the access key's secret at sign-in

    @classmethod
    def fresh(cls, region: str) -> ConsoleSession:
        return cls(secrets.token_urlsafe(32), region)

    @classmethod
    def from_cookie(cls, stored: MutableMapping[str, Any]) -> ConsoleSession | None:
        csrf, region = stored.get("csrf"), stored.get("region")
        if not isinstance(csrf, str) or not isinstance(region, str):
            return None
        return cls(csrf, region, _text_or_none(stored.get("access_key")), _text_or_none(stored.get("proof")))

    def to_cookie(self, stored: MutableMapping[str, Any]) -> None:
        stored.clear()
        stored.update({"csrf": self.csrf, "region": self.region, "access_key": self.access_key, "proof": self.proof})


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Viewer:
    """The account and region a request sees, and the session it came with."""

    owner: Owner
    session: ConsoleSession
    signs_in: bool  # False in development mode: there is no signing in or out


class Gate:
    def __init__(self, settings: Settings, credentials: CredentialsFile | None, secret: bytes) -> None:
        self.settings = settings
        self.credentials = credentials
        self._proof_key = derived_key(secret, "secret digest")

    @property
    def development(self) -> bool:
        return self.credentials is None

    def default_region(self) -> str:
        regions = self.settings.regions
        return DEFAULT_REGION if regions is None or DEFAULT_REGION in regions else min(regions)

    def region_allowed(self, region: str) -> bool:
        regions = self.settings.regions
        return bool(_REGION.fullmatch(region)) and (regions is None or region in regions)

    def session(self, stored: MutableMapping[str, Any]) -> ConsoleSession:
        """The request's session; a new one (stored at once) when it has none or it no longer fits."""
        session = ConsoleSession.from_cookie(stored)
        if session is None or not self.region_allowed(session.region):
            session = ConsoleSession.fresh(self.default_region())
            session.to_cookie(stored)
        return session

    def viewer(self, session: ConsoleSession) -> Viewer | None:
        if self.credentials is None:
            return Viewer(Owner(self.settings.default_account_id, session.region), session, signs_in=False)
        principal = self.credentials.current().keys.get(session.access_key or "")
        if principal is None or session.proof is None or not hmac.compare_digest(self._proof(principal), session.proof):
            return None
        return Viewer(Owner(principal.account_id, session.region), session, signs_in=True)

    def sign_in(self, session: ConsoleSession, access_key: str, secret_key: str) -> ConsoleSession | None:
        """The signed-in session (with a new CSRF token), or None for a wrong key or secret."""
        principal = self.credentials.current().keys.get(access_key) if self.credentials else None
        if principal is None or not hmac.compare_digest(principal.secret_access_key.encode(), secret_key.encode()):
            return None
        return replace(ConsoleSession.fresh(session.region), access_key=access_key, proof=self._proof(principal))

    @staticmethod
    def csrf_matches(session: ConsoleSession, form: dict[str, str]) -> bool:
        return hmac.compare_digest(session.csrf.encode(), form.get(CSRF_FIELD, "").encode())

    def _proof(self, principal: Principal) -> str:
        material = f"{principal.access_key_id}\0{principal.secret_access_key}".encode()
        return hmac.new(self._proof_key, material, hashlib.sha256).hexdigest()
