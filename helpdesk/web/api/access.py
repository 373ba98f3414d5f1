"""Who is calling the API and what they may do: the bearer token, its scope, its rate limit.

Every /api/v1 route runs `token_guard`: `Authorization: Bearer <token>` (401 without a live one),
the "read" scope for GET and "write" for changes (403), and a token bucket per token in the app's
shared "throttle" store (Redis when several web processes run), 429 with Retry-After when empty.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.handlers import BaseRouteHandler
from litestar.stores.base import Store
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from helpdesk.integrations.api_tokens import verify_token
from helpdesk.web.api.problems import Problem

REQUESTS_PER_MINUTE = 600  # per token; the app's state `api_requests_per_minute` overrides it (tests)
_READING = {"GET", "HEAD", "OPTIONS"}
_CHALLENGE = 'Bearer realm="helpdesk-api"'


@dataclass(frozen=True)
class Caller:
    """The token a request came with; the API acts as `agent_id` (the token's creator) where an
    author is needed, or as nobody."""

    token_id: int
    name: str
    scopes: tuple[str, ...]
    agent_id: int | None


@dataclass(frozen=True)
class Allowance:
    limit: int
    remaining: int
    retry_after: int  # seconds until one request is allowed again (0: now)


async def take(store: Store, key: str, per_minute: int, *, now: float | None = None) -> Allowance:
    """Take one request from the bucket under `key`: it holds `per_minute` and refills at that rate,
    so a burst of a minute's worth is allowed, then a steady pace. (Read then write, as
    throttle.hit: across processes a burst may pass one or two over, which a limit can live with.)"""
    now = time.time() if now is None else now
    stored = await store.get(key)
    tokens, then = float(per_minute), now
    if stored is not None:
        kept, _, at = stored.decode().partition(":")
        tokens, then = float(kept), float(at)
    rate = per_minute / 60.0
    tokens = min(float(per_minute), tokens + (now - then) * rate)
    if tokens < 1:
        return Allowance(per_minute, 0, max(1, math.ceil((1 - tokens) / rate)))
    tokens -= 1
    await store.set(key, f"{tokens:.4f}:{now:.4f}".encode(), expires_in=120)
    return Allowance(per_minute, int(tokens), 0)


async def token_guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    scheme, _, secret = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Problem(401, "send your API token as `Authorization: Bearer <token>`",
                      headers={"WWW-Authenticate": _CHALLENGE})
    async with connection.app.state.sessions() as session:
        token = await verify_token(session, secret.strip())
    if token is None:
        raise Problem(401, "this API token is unknown or was revoked",
                      headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})
    per_minute = int(connection.app.state.get("api_requests_per_minute", REQUESTS_PER_MINUTE))
    allowance = await take(connection.app.stores.get("throttle"), f"api:{token.id}", per_minute)
    connection.scope["state"]["api_allowance"] = allowance
    if allowance.retry_after:
        raise Problem(429, f"this token may make {per_minute} requests a minute; try again in "
                           f"{allowance.retry_after} s", headers={"Retry-After": str(allowance.retry_after),
                                                                  **_limit_headers(allowance)})
    needed = "read" if connection.scope.get("method", "GET") in _READING else "write"
    if needed not in (token.scopes or []):
        raise Problem(403, f"this token has no {needed} scope", slug="scope")
    connection.scope["state"]["api_caller"] = Caller(token.id, token.name, tuple(token.scopes or ()),
                                                     token.created_by_id)


def _limit_headers(allowance: Allowance) -> dict[str, str]:
    return {"RateLimit-Limit": str(allowance.limit), "RateLimit-Remaining": str(allowance.remaining)}


def rate_limit_headers(app: ASGIApp) -> ASGIApp:
    """Middleware: every answer says how much of its minute the token has left (the IETF RateLimit
    header draft), read from what `token_guard` took."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            allowance = scope.get("state", {}).get("api_allowance")
            if message["type"] == "http.response.start" and allowance is not None:
                headers = MutableScopeHeaders.from_message(message)
                for name, value in _limit_headers(allowance).items():
                    headers[name] = value
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


def provide_caller(request: Request) -> Caller:
    """Dependency: the Caller `token_guard` let in."""
    return request.scope["state"]["api_caller"]
