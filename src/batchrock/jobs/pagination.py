"""Opaque, signed ``nextToken`` values for ListModelInvocationJobs.

A token carries the last job of a page and a digest of the query it belongs to; it is signed
with a per-data-dir secret, so a tampered token, or one used with other filters or by
another account, is rejected as a ValidationException.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import orjson

from batchrock.errors import ValidationError
from batchrock.jobs.store import JobQuery, ListCursor
from batchrock.jobs.timecodec import from_micros, to_micros


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _query_digest(query: JobQuery) -> str:
    parts = [
        query.owner.account_id,
        query.owner.region,
        query.sort_order.value,
        query.status.value if query.status else "",
        query.name_contains or "",
        str(to_micros(query.submitted_after)) if query.submitted_after else "",
        str(to_micros(query.submitted_before)) if query.submitted_before else "",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class TokenSigner:
    secret: bytes

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self.secret, payload, hashlib.sha256).digest()

    def issue(self, query: JobQuery, cursor: ListCursor) -> str:
        payload = orjson.dumps({"t": to_micros(cursor.submit_time), "j": cursor.job_id, "q": _query_digest(query)})
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def read(self, token: str, query: JobQuery) -> ListCursor:
        try:
            encoded, signature = token.split(".", 1)
            payload = _unb64(encoded)
            valid = hmac.compare_digest(self._mac(payload), _unb64(signature))
            data = orjson.loads(payload) if valid else None
        except (ValueError, orjson.JSONDecodeError):
            data = None
        if not isinstance(data, dict) or data.get("q") != _query_digest(query):
            raise ValidationError("The nextToken is invalid, or was issued for a different query.")
        return ListCursor(submit_time=from_micros(int(data["t"])), job_id=str(data["j"]))
