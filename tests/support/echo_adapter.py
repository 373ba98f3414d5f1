"""A test adapter, as small as a real one: a signed JSON webhook ("echo") with verify and parse.

Body: {"id": "m1", "from": "u-42", "name": "Una", "text": "hello", "thread": "t-1"}; signature:
`X-Echo-Signature: sha256=<hex HMAC-SHA256 of the raw body with SECRET>`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timezone

from helpdesk.channel import Identity, InboundMessage, SignatureInvalid, ThreadKeys, UnreadablePayload
from helpdesk.settings import Settings
from helpdesk.web.public import Webhook

PLATFORM = "echo"
SECRET = b"echo-app-secret"
ACCOUNT = "echo-bot-1"


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, settings: Settings) -> str:
    given = headers.get("x-echo-signature", "")
    if not hmac.compare_digest(given, sign(body)):
        raise SignatureInvalid("X-Echo-Signature does not match the body")
    return ACCOUNT


def handshake(params: Mapping[str, str], settings: Settings) -> str:
    if params.get("token") != "verify-me":
        raise SignatureInvalid("wrong verify token")
    return params.get("challenge", "")


def parse(raw: bytes, *, account: str | None, raw_ref: str) -> list[InboundMessage]:
    try:
        body = json.loads(raw)
        return [InboundMessage(
            channel=PLATFORM, external_id=body["id"], sender=Identity(PLATFORM, body["from"], body.get("name")),
            subject=None, text=body["text"], html=None, attachments=[],
            thread_keys=ThreadKeys(platform_thread_id=body.get("thread")),
            received_at=datetime.now(timezone.utc), account=account, raw_ref=raw_ref,
        )]
    except (ValueError, KeyError, TypeError) as error:
        raise UnreadablePayload(f"not an echo message: {error!r}") from error


WEBHOOK = Webhook(platform=PLATFORM, verify=verify, handshake=handshake, max_body=4096)
