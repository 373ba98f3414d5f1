"""The signature on every outbound webhook, in the scheme Stripe and Svix use (docs/webhooks.md):

    Helpdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

The timestamp is inside the signed text, so a receiver that rejects old timestamps is safe from
replays of a captured request; `v1` names the scheme, so a new one can be sent beside it later.
Receivers check it with the code in docs/webhooks.md (the tests run that very code).
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


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"

