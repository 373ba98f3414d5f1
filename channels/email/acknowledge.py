"""Auto-acknowledgement of new email tickets, with the loop protection RFC 3834 asks for.

Never to auto-generated mail (auto-replies, bounces, lists), never to one of our own
addresses, at most `settings.auto_ack_limit_per_hour` per sender per hour, and only where
the receiving mailbox opted in.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channel import InboundMessage
from channels.email.templates import render
from helpdesk.tickets import outbox
from helpdesk.inbound.ingest import IngestResult
from helpdesk.models import Mailbox, Message, Ticket, utcnow
from helpdesk.settings import Settings

log = logging.getLogger(__name__)


def may_acknowledge(message: InboundMessage, *, own: frozenset[str], recent: int, limit: int) -> bool:
    """The loop-protection rule, pure: who may get an automatic answer."""
    if message.auto_generated or message.bounce_of:
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
    with _as_automatic(session, ticket):
        await outbox.queue_reply(session, ticket, settings=settings, text=text, reply_all=False)
    return True


@contextmanager
def _as_automatic(session: AsyncSession, ticket: Ticket):
    """Make the reply `queue_reply` commits an automatic one, in the same transaction.

    An acknowledgement is not an agent's answer: it must not stop the first-response clock or
    open the ticket, and its row is marked auto_generated (the SMTP sender then adds
    Auto-Submitted, RFC 3834, and the hourly limit counts it). Done before the flush, so the
    delivery worker can never see the row without the mark.
    """
    kept = {name: getattr(ticket, name) for name in
            ("status", "first_responded_at", "first_response_due_at", "next_response_due_at", "last_outbound_at")}

    def before_flush(sync_session, _context, _instances) -> None:
        for obj in sync_session.new:
            if isinstance(obj, Message) and obj.direction == "outbound" and obj.ticket_id == ticket.id:
                obj.auto_generated = True
        for name, value in kept.items():
            setattr(ticket, name, value)

    event.listen(session.sync_session, "before_flush", before_flush)
    try:
        yield
    finally:
        event.remove(session.sync_session, "before_flush", before_flush)
