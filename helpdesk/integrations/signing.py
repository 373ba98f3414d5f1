"""The signature on every outbound webhook, in the scheme Stripe and Svix use (docs/webhooks.md):

    Helpdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

The timestamp is inside the signed text, so a receiver that rejects old timestamps is safe from
replays of a captured request; `v1` names the scheme, so a new one can be sent beside it later.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Helpdesk-Signature"
EVENT_HEADER = "Helpdesk-Event"
DELIVERY_HEADER = "Helpdesk-Delivery"
SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


class SignatureInvalid(ValueError):
    """A signature header that does not match the body, or is too old."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> int:
    """Check a `Helpdesk-Signature` header against the raw body; returns its timestamp."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in parts if key.strip() == "t"]
    candidates = [value.strip() for key, value in parts if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not candidates:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} must read t=<unix seconds>,v1=<hex>")
    timestamp = int(timestamps[0])
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} timestamp is more than {tolerance} s away from now")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")
    return timestamp
