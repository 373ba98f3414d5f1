"""Auto-acknowledgement of new tickets, with the loop protection RFC 3834 asks for.

Never to auto-generated messages (auto-replies, bounces, lists), never to one of our own
addresses, at most `settings.auto_ack_limit_per_hour` per customer per hour, and only where the
receiving account opted in. The acknowledgement is an ordinary outbox row, marked automatic.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channel import InboundMessage
from helpdesk.inbound.ingest import IngestResult
from helpdesk.tickets import outbox
from helpdesk.tickets.reply_templates import render
from helpdesk.models import Mailbox, Message, Ticket, utcnow
from helpdesk.settings import Settings

log = logging.getLogger(__name__)


def may_acknowledge(message: InboundMessage, *, own: frozenset[str], recent: int, limit: int) -> bool:
    """The loop-protection rule, pure: who may get an automatic answer."""
    if message.auto_generated or message.bounce_of or message.machine_reply:
        return False
    sender = message.sender.value.strip().lower()
    if not sender or sender in own or sender.endswith("@invalid"):
        return False
    return recent < limit


async def acknowledge(
    session: AsyncSession, message: InboundMessage, result: IngestResult, *, settings: Settings, own: frozenset[str]
) -> bool:
    """Queue an acknowledgement for a newly created ticket when the rules allow; True if queued."""
    if not message.account:
        return False
    enabled = await session.scalar(select(Mailbox.auto_ack).where(func.lower(Mailbox.address) == message.account.lower()))
    if not enabled:
        return False
    recent = await session.scalar(
        select(func.count(Message.id))
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Ticket.customer_id == result.customer_id, Message.direction == "outbound",
               Message.auto_generated.is_(True), Message.created_at >= utcnow() - timedelta(hours=1))
    )
    if not may_acknowledge(message, own=own, recent=recent or 0, limit=settings.auto_ack_limit_per_hour):
        log.info("no auto-acknowledgement to %s for ticket %s", message.sender.value, result.ticket_id)
        return False
    ticket = await session.get(Ticket, result.ticket_id)
    text = render("email/auto_ack.txt", ticket=ticket, customer_name=message.sender.display_name)
    await outbox.queue_reply(session, ticket, settings=settings, text=text, reply_all=False, automatic=True)
    return True
