"""An agent's notifications: a snoozed ticket is back (and, later, SLA warnings and escalations).

A notification is unread until the agent opens it or marks all read. Writers add theirs to the
session of the change that caused them (`notify`) and, once that is committed, `announce` them:
the agent's open consoles hear `notification.created` on `agent:{id}` and re-fetch the bell.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import live
from helpdesk.models import Notification, utcnow

# The bell says "99+" past this: an agent acts on a handful, and a capped count reads at most this
# many entries of ix_notifications_agent_unread.
UNREAD_CAP = 99
PAGE_SIZE = 50


@dataclass(frozen=True)
class Notice:
    """What to tell whom, about which ticket."""

    agent_id: int
    kind: str  # "snooze.woken", "sla.warning", ...
    text: str
    ticket_id: int | None = None


def notify(session: AsyncSession, notices: Iterable[Notice], *, at: datetime | None = None) -> set[int]:
    """Add the notifications to the session (committed with the change they are about); returns the
    agents to `announce` to after the COMMIT."""
    at = at or utcnow()
    agents = set()
    for notice in notices:
        session.add(Notification(agent_id=notice.agent_id, kind=notice.kind, ticket_id=notice.ticket_id,
                                 text=notice.text[:500], created_at=at))
        agents.add(notice.agent_id)
    return agents


def announce(agent_ids: Iterable[int], event: str = "notification.created") -> None:
    for agent_id in agent_ids:
        live.publish(live.agent_channel(agent_id), {"event": event})


async def unread_count(session: AsyncSession, agent_id: int) -> int:
    """Unread notifications, counted up to UNREAD_CAP + 1 (one range of the (agent, read_at, id) index)."""
    unread = (select(Notification.id).where(Notification.agent_id == agent_id, Notification.read_at.is_(None))
              .limit(UNREAD_CAP + 1).subquery())
    return await session.scalar(select(func.count()).select_from(unread))


def unread_label(count: int) -> str:
    return f"{UNREAD_CAP}+" if count > UNREAD_CAP else str(count)


async def recent(session: AsyncSession, agent_id: int, *, limit: int = PAGE_SIZE) -> list[Notification]:
    """The agent's newest notifications, read or not."""
    return list(await session.scalars(
        select(Notification).where(Notification.agent_id == agent_id).order_by(Notification.id.desc()).limit(limit)
    ))


async def mark_read(session: AsyncSession, agent_id: int, notification_id: int | None = None) -> Notification | None:
    """Mark one of the agent's notifications read (returns it; None if it is not theirs), or all of
    them when no id is given. The agent's other consoles update their bell."""
    now = utcnow()
    found = None
    if notification_id is None:
        await session.execute(update(Notification).where(Notification.agent_id == agent_id,
                                                         Notification.read_at.is_(None)).values(read_at=now))
    else:
        found = await session.scalar(select(Notification).where(Notification.id == notification_id,
                                                                Notification.agent_id == agent_id))
        if found is None:
            return None
        if found.read_at is None:
            found.read_at = now
    await session.commit()
    announce([agent_id], "notification.read")
    return found
