"""Who is there to answer a chat: an agent is online while their console is open, and a chat
channel is online when one of its agents is and it is within its business hours.

The console's live queue stream (helpdesk/web/console/live.py) refreshes the agent's key every
`REFRESH_SECONDS` in the app's "presence" store (memory, or Redis when several web processes run);
the key expires `TTL_SECONDS` after the last refresh, so a closed laptop goes offline by itself.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from litestar.stores.base import Store
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent, BusinessCalendar, ChatChannel, utcnow
from helpdesk.sla.clock import calendar_from_row, is_open

REFRESH_SECONDS = 15
TTL_SECONDS = 45  # three refreshes missed: gone
STATUS_CACHE_SECONDS = 5  # a channel's status is asked by every visitor's config call and socket


def _key(agent_id: int) -> str:
    return f"agent:{agent_id}"


async def _mark(store: Store, key: str, here: bool) -> None:
    """Someone (an agent, a chat visitor) is here until TTL_SECONDS without a refresh, or gone now."""
    if here:
        await store.set(key, b"1", expires_in=TTL_SECONDS)
    else:
        await store.delete(key)


async def mark_online(store: Store, agent_id: int) -> None:
    await _mark(store, _key(agent_id), True)


async def mark_offline(store: Store, agent_id: int) -> None:
    await _mark(store, _key(agent_id), False)


async def is_online(store: Store, agent_id: int) -> bool:
    return await store.exists(_key(agent_id))


@dataclass(frozen=True)
class ChannelStatus:
    online: bool  # an agent who answers this channel has the console open, and it is open now
    open_now: bool  # within the channel's business hours

    def frame(self) -> dict:
        return {"type": "presence", "online": self.online, "open_now": self.open_now}


_cache: dict[tuple[int, int], tuple[float, ChannelStatus]] = {}  # (store, channel id) -> (when, status)


async def channel_status(session: AsyncSession, store: Store, channel: ChatChannel, *,
                         now: datetime | None = None, fresh: bool = False) -> ChannelStatus:
    """The channel's status, cached for a few seconds per process unless `fresh`."""
    key = (id(store), channel.id)
    cached = _cache.get(key)
    if cached is not None and not fresh and now is None and time.monotonic() - cached[0] < STATUS_CACHE_SECONDS:
        return cached[1]
    calendar = None
    if channel.calendar_id is not None:
        row = await session.get(BusinessCalendar, channel.calendar_id)
        if row is not None:
            calendar = calendar_from_row(row.timezone, row.weekly_hours, row.holidays)
    open_now = is_open(now or utcnow(), calendar)
    online = False
    if open_now:
        query = select(Agent.id).where(Agent.active.is_(True))
        if channel.team_id is not None:
            query = query.where(Agent.team_id == channel.team_id)
        for agent_id in await session.scalars(query):
            if await is_online(store, agent_id):
                online = True
                break
    status = ChannelStatus(online, open_now)
    _cache[key] = (time.monotonic(), status)
    return status


# -- chat visitors: connected now? (the agents' view of a chat ticket) -----------------------------
# The widget's socket marks its visitor here while it is open, refreshed with the channel presence
# (channels/chat/socket.py), so a console in any web process can say "online" when the ticket opens.

def _visitor_key(public_id: str) -> str:
    return f"visitor:{public_id}"


async def mark_visitor(store: Store, public_id: str, connected: bool) -> None:
    await _mark(store, _visitor_key(public_id), connected)


async def visitor_connected(store: Store, public_id: str) -> bool:
    return await store.exists(_visitor_key(public_id))
