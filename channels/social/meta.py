"""What Messenger, Instagram and WhatsApp share: Meta's webhook signature and subscription handshake,
and how the Graph API answers errors.

Meta signs each delivery with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.
One app (one secret) serves every page and number it is subscribed for, so a delivery is checked
against the secrets of the platform's active accounts (helpdesk/social/accounts.py: a handful, held
decrypted in memory), over the bytes as they arrived, in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

import httpx

from helpdesk.channel import DeliveryError, SignatureInvalid, UnreadablePayload
from helpdesk.settings import Settings
from helpdesk.social.accounts import directory

SIGNATURE_HEADER = "x-hub-signature-256"
# Graph error codes that mean "slow down" or "try again": rate limits, temporary outages
_RETRYABLE_CODES = {1, 2, 4, 17, 32, 341, 613, 80001, 80002, 80004, 80006, 130429, 131000, 131016, 131048, 131056}


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for this body (tests and `helpdesk simulate` use it too)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


async def verify(platform: str, headers: Mapping[str, str], body: bytes, settings: Settings) -> str | None:
    """The external id of the account whose app secret signed this body; SignatureInvalid otherwise."""
    given = headers.get(SIGNATURE_HEADER, "")
    if not given:
        raise SignatureInvalid("X-Hub-Signature-256 is missing")
    if not given.startswith("sha256="):
        raise SignatureInvalid("X-Hub-Signature-256 is not of the form sha256=<hex>")
    for account in await directory.accounts(settings, platform):
        if account.app_secret and hmac.compare_digest(given.encode(), sign(body, account.app_secret).encode()):
            return account.external_id
    raise SignatureInvalid(f"X-Hub-Signature-256 does not match the body with any active {platform} account's app secret")


async def handshake(platform: str, params: Mapping[str, str], settings: Settings) -> str:
    """Meta's subscription check: `hub.challenge` back if `hub.verify_token` is one of ours."""
    token = params.get("hub.verify_token", "")
    if params.get("hub.mode") != "subscribe" or not token:
        raise SignatureInvalid("not a subscription check (hub.mode=subscribe with hub.verify_token)")
    for account in await directory.accounts(settings, platform):
        if account.verify_token and hmac.compare_digest(token.encode(), account.verify_token.encode()):
            return params.get("hub.challenge", "")
    raise SignatureInvalid(f"hub.verify_token matches no active {platform} account")


def check_envelope(body: bytes, expected_object: str) -> dict:
    """The JSON envelope every Meta webhook has (`object`, `entry[]`), or UnreadablePayload."""
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise UnreadablePayload(f"the body is not JSON: {error}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise UnreadablePayload("a Meta webhook is a JSON object with an `entry` list")
    if payload.get("object") != expected_object:
        raise UnreadablePayload(f"`object` is {payload.get('object')!r}, expected {expected_object!r}")
    return payload


def graph_error(response: httpx.Response, what: str) -> DeliveryError:
    """A Graph API error as the agent should read it, retryable when trying later can help."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code, subcode = error.get("code"), error.get("error_subcode")
    message = error.get("error_user_msg") or error.get("message") or response.reason_phrase or "error"
    detail = f"{what}: {message} (HTTP {response.status_code}" + (f", code {code}" if code is not None else "") \
        + (f", subcode {subcode}" if subcode is not None else "") + ")"
    retry_after = _retry_after(response)
    retryable = response.status_code == 429 or response.status_code >= 500 or code in _RETRYABLE_CODES \
        or bool(error.get("is_transient"))
    return DeliveryError(detail, retryable=retryable, retry_after=retry_after)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def transport_error(error: httpx.HTTPError, what: str) -> DeliveryError:
    """The platform could not be reached (refused, timed out): worth trying again later."""
    return DeliveryError(f"{what}: {type(error).__name__}: {error}", retryable=True)
