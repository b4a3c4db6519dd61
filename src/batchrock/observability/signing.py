"""Signing job state-change events, and checking a signature as a receiver does.

The signed string is the timestamp, a dot, and the raw body: ``f"{timestamp}.".encode() + body``.
``X-Batchrock-Signature: sha256=<hex of HMAC-SHA256(secret, signed string)>``. Covering the
timestamp lets a receiver refuse an old request replayed with its signature; the event id
(``X-Batchrock-Event-Id``, also the body's ``id``) lets it drop a redelivery it already has.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Batchrock-Signature"
TIMESTAMP_HEADER = "X-Batchrock-Timestamp"
EVENT_ID_HEADER = "X-Batchrock-Event-Id"
DEFAULT_TOLERANCE_SECONDS = 300.0


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def event_headers(event_id: str, body: bytes, secret: bytes | None, now: float) -> dict[str, str]:
    """The headers of one delivery attempt; the timestamp is the attempt's, in Unix seconds."""
    timestamp = str(int(now))
    headers = {"Content-Type": "application/json", EVENT_ID_HEADER: event_id, TIMESTAMP_HEADER: timestamp}
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


def verify(secret: bytes, timestamp: str, signed: str, body: bytes, now: float,
           tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """A receiver's check: the signature matches (compared in constant time) and the timestamp is recent."""
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), signed)
