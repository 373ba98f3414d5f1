"""Who a chat visitor is: the visitor token we give out, and the identity a shop signs.

The visitor token is a JWT (HS256) signed with a key derived from the instance secret, `aud`
"chat", `sub` the conversation's public id, `ch` the channel key: every chat endpoint loads the
conversation through it and nothing else. A shop proves who its signed-in user is with a JWT signed
with the channel's identity secret (HS256 only, `exp` required) or an HMAC-SHA256 `user_hash` of the
user id (Intercom/Chatwoot style). See docs/chat.md.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

import jwt

from helpdesk.customers.identities import InvalidIdentity, normalise_identity
from helpdesk.models import utcnow
from helpdesk.settings import Settings

VISITOR_TOKEN_DAYS = 30
AUDIENCE = "chat"
ALGORITHM = "HS256"  # the only one accepted, in both directions: never "none", never a public-key algorithm


class TokenInvalid(PermissionError):
    """A visitor token or a signed identity that does not check out; the message says why."""


@dataclass(frozen=True)
class VerifiedUser:
    """A shop's signed-in user, as its signature vouches: `sub` (its user id), email and name if given."""

    sub: str
    email: str | None = None
    name: str | None = None


def _visitor_key(settings: Settings) -> bytes:
    # derived, not the instance secret itself: a token for one purpose is never valid for another
    return hashlib.sha256(b"helpdesk chat visitor token\0" + settings.secret_key.encode()).digest()


def visitor_token(settings: Settings, *, conversation: str, channel_key: str) -> str:
    now = utcnow()
    claims = {"aud": AUDIENCE, "sub": conversation, "ch": channel_key, "iat": now,
              "exp": now + timedelta(days=VISITOR_TOKEN_DAYS)}
    return jwt.encode(claims, _visitor_key(settings), algorithm=ALGORITHM)


def visitor_conversation(settings: Settings, token: str | None, *, channel_key: str) -> str:
    """The conversation public id a visitor token names, if the token is ours, unexpired and for
    this channel; raises TokenInvalid otherwise."""
    if not token:
        raise TokenInvalid("no visitor token")
    try:
        claims = jwt.decode(token, _visitor_key(settings), algorithms=[ALGORITHM], audience=AUDIENCE,
                            options={"require": ["exp", "sub", "aud"]})
    except jwt.PyJWTError as error:
        raise TokenInvalid(f"visitor token: {error}") from None
    if claims.get("ch") != channel_key or not isinstance(claims.get("sub"), str):
        raise TokenInvalid("visitor token: it is for another chat channel")
    return claims["sub"]


def verify_identity_token(token: str, secret: str | None) -> VerifiedUser:
    """A shop's signed identity (JWT, HS256 with the channel's identity secret, `exp` and `sub` required)."""
    if not secret:
        raise TokenInvalid("this chat channel has no identity secret")
    try:
        # `sub` may be a number: shops' user ids often are (RFC 7519 wants a string; we take both)
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub"], "verify_sub": False})
    except jwt.PyJWTError as error:
        raise TokenInvalid(f"identity token: {error}") from None
    if not isinstance(claims["sub"], (str, int)) or isinstance(claims["sub"], bool):
        raise TokenInvalid("identity token: sub is the user's id, a string or a number")
    sub = str(claims["sub"]).strip()
    if not sub:
        raise TokenInvalid("identity token: empty sub")
    email, name = claims.get("email"), claims.get("name")
    try:  # a signed email that is not one is left out, not an error: the user is still who they are
        email = normalise_identity("email", str(email))[1][:320] if email else None
    except InvalidIdentity:
        email = None
    return VerifiedUser(sub[:200], email, str(name).strip()[:200] if name else None)


def user_hash(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify_user_hash(user_id: str, given: str, secret: str | None) -> VerifiedUser:
    """`user_hash` = hex HMAC-SHA256 of the user id with the channel's identity secret, compared in constant time."""
    if not secret:
        raise TokenInvalid("this chat channel has no identity secret")
    user_id = (user_id or "").strip()
    if not user_id or not hmac.compare_digest(user_hash(secret, user_id).encode(),
                                                  (given or "").strip().lower().encode()):
        raise TokenInvalid("user_hash does not match user_id")
    return VerifiedUser(user_id[:200])
