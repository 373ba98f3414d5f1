"""A visitor's limits (docs/chat.md "Limits"), counted in the app's "throttle" store (memory, or
Redis when several web processes run, so a visitor cannot spread over them)."""
from __future__ import annotations

from dataclasses import dataclass

from litestar.stores.base import Store

from helpdesk.web.throttle import hit


@dataclass(frozen=True)
class Limit:
    count: int
    window: int  # seconds


# per conversation, and sessions per client address; a transcript mails someone, so it is scarce
LIMITS = {"message": Limit(20, 10), "upload": Limit(10, 3600), "session": Limit(20, 60),
          "transcript": Limit(3, 3600), "offline": Limit(5, 3600)}


async def allowed(store: Store, kind: str, who: str) -> bool:
    """One more `kind` for `who` (a conversation, or a client address) within its limit?"""
    limit = LIMITS[kind]
    return await hit(store, f"chat:{kind}:{who}", limit.window) <= limit.count
