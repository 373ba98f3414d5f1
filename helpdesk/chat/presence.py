"""A chat channel's presence, as the widget shows it: online when an agent who answers the channel
has the console open (helpdesk/staff/presence.py) and it is within the channel's business hours
(the SLA calendars); `open_now` alone says whether it is within them.

Here and not in helpdesk/staff: it joins agents' presence with the business calendars, and the SLA
package already depends on staff (it notifies agents)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from litestar.stores.base import Store
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent, BusinessCalendar, ChatChannel, utcnow
from helpdesk.sla.clock import calendar_from_row, is_open
from helpdesk.staff.presence import is_online

STATUS_CACHE_SECONDS = 5  # a channel's status is asked by every visitor's config call and socket


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
