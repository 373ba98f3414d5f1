"""API tokens for the REST API (/api/v1): made per integration, shown once, stored as a SHA-256.

A token is `hd_` and 43 url-safe characters (256 random bits). Only its hex SHA-256 is kept, with its
first characters (`prefix`) so a person can tell tokens apart in the console and CLI. Looking a token
up by its hash is safe against timing: the hash of a guess says nothing about the real token.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import ApiToken, AuditEvent, utcnow

SCOPES = ("read", "write")
TOKEN_PREFIX = "hd_"
PREFIX_LENGTH = 10  # "hd_" and 7 characters: enough to tell tokens apart, far too few to guess the rest
NAME_MAX = 200
# last_used_at is written at most this often per token: a busy integration must not write on every call
LAST_USED_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token that cannot be made as asked; the message says why, next to the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewToken:
    """A token just made: `secret` is the only time the whole token exists outside the caller."""

    token: ApiToken
    secret: str


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def clean_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """The scopes in their order; "write" implies "read" (a writer reads back what it wrote)."""
    wanted = {s.strip().lower() for s in scopes if s and s.strip()}
    unknown = wanted - set(SCOPES)
    if unknown:
        raise TokenError(f"unknown scope {sorted(unknown)[0]!r}: use read or write", field="scopes")
    if not wanted:
        raise TokenError("give the token a scope: read, or read and write", field="scopes")
    if "write" in wanted:
        wanted.add("read")
    return [s for s in SCOPES if s in wanted]


async def create_token(session: AsyncSession, name: str, scopes: list[str] | tuple[str, ...], *,
                       agent_id: int | None = None) -> NewToken:
    """Make a token (committed). The API acts as `agent_id` where an author is needed (notes)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("name the integration the token is for", field="name")
    if len(name) > NAME_MAX:
        raise TokenError(f"the name can have at most {NAME_MAX} characters", field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=token_hash(secret), prefix=secret[:PREFIX_LENGTH],
                     scopes=clean_scopes(scopes), created_by_id=agent_id)
    session.add(token)
    await session.flush()
    session.add(AuditEvent(agent_id=agent_id, action="api_token.create", object_type="api_token",
                           object_id=token.id, data={"name": name, "scopes": token.scopes}))
    await session.commit()
    return NewToken(token, secret)


async def verify_token(session: AsyncSession, secret: str) -> ApiToken | None:
    """The live token this secret is, or None (unknown, malformed or revoked). Notes its use, at
    most once a minute (committed)."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    digest = token_hash(secret)
    token = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or token.revoked_at is not None or not hmac.compare_digest(token.token_hash, digest):
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        # conditional, so several processes serving one token write once a minute between them
        await session.execute(
            update(ApiToken).where(ApiToken.id == token.id,
                                   (ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at <= now - LAST_USED_EVERY))
            .values(last_used_at=now).execution_options(synchronize_session=False))
        await session.commit()
        token.last_used_at = now
    return token


async def list_tokens(session: AsyncSession, *, include_revoked: bool = True) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return list(await session.scalars(query))


async def find_token(session: AsyncSession, reference: str) -> ApiToken | None:
    """A token by its id or its prefix (what the CLI and console show)."""
    reference = (reference or "").strip()
    if reference.isdigit():
        return await session.get(ApiToken, int(reference)) if int(reference) < 2**31 else None
    found = list(await session.scalars(select(ApiToken).where(ApiToken.prefix == reference)))
    return found[0] if len(found) == 1 else None


async def revoke_token(session: AsyncSession, token: ApiToken, *, agent_id: int | None = None) -> bool:
    """Revoke (committed); False when it already was. It answers 401 from the next request on."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    session.add(AuditEvent(agent_id=agent_id, action="api_token.revoke", object_type="api_token",
                           object_id=token.id, data={"name": token.name}))
    await session.commit()
    return True
