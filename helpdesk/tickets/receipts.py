"""What platforms report about messages we hold: delivery receipts of our replies (sent, delivered,
read, failed with the platform's error) and customers' reactions. They change the message they are
about, never open a ticket.

Receipts can arrive late and out of order (WhatsApp may report "read" before "delivered"): a status
only ever moves forward, sent -> delivered -> read, and the time of each step is kept. A "failed"
after "sent" (the platform accepted the message, then could not deliver it) marks it failed with the
platform's error, and the SLA clocks the reply stopped run again (`outbox.reply_undelivered`).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import live
from helpdesk.channel import StatusUpdate
from helpdesk.models import Message, utcnow

log = logging.getLogger(__name__)

_RANK = {None: 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}


async def apply(session: AsyncSession, updates: Sequence[StatusUpdate]) -> list[int]:
    """Apply the updates and commit; returns the ids of the messages that changed."""
    changed: list[Message] = []
    failed: list[int] = []
    for update in updates:
        message = await session.scalar(select(Message).where(
            Message.channel == update.channel, Message.external_id == update.external_id))
        if message is None:
            log.info("%s status %s for message %s we do not hold: ignored", update.channel,
                     update.status or "reaction", update.external_id)
            continue
        if _apply_one(message, update):
            changed.append(message)
            if update.status == "failed" and message.direction == "outbound":
                failed.append(message.id)
    if not changed:
        return []
    await session.commit()
    if failed:
        from helpdesk.tickets import outbox  # the outbox reads receipts' neighbours; imported late to keep the graph simple

        for message_id in failed:
            await outbox.reply_undelivered(session, message_id)
    for message in changed:
        live.publish(live.ticket_channel(message.ticket_id), {
            "event": "message.delivery", "message_id": message.id, "status": message.delivery_status})
    return [message.id for message in changed]


def _apply_one(message: Message, update: StatusUpdate) -> bool:
    changed = False
    if update.reaction is not None:
        reaction = update.reaction[:32] or None
        if message.reaction != reaction:
            message.reaction, changed = reaction, True
    status = update.status
    if status is None or message.direction != "outbound":
        if changed:
            message.updated_at = utcnow()
        return changed
    if status == "failed":
        if message.delivery_status != "failed" and message.delivery_status != "read":
            message.delivery_status = "failed"
            message.delivery_error = (update.error or "the platform could not deliver it")[:2000]
            changed = True
    elif status in _RANK and message.delivery_status != "failed":
        if _RANK[status] > _RANK.get(message.delivery_status, 0):
            message.delivery_status, changed = status, True
        if status in ("delivered", "read") and message.delivered_at is None:
            message.delivered_at, changed = update.at, True
        if status == "read" and message.read_at is None:
            message.read_at, changed = update.at, True
        if message.sent_at is None:
            message.sent_at, changed = update.at, True
    if changed:
        message.updated_at = utcnow()
    return changed
