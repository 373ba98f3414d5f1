"""InboundMessage -> ticket: the only way a message becomes data."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import InboundMessage
from helpdesk import live, sla_policies
from helpdesk.customers import email_domain, normalise_identity, resolve_customer, InvalidIdentity
from helpdesk.files import store_blob
from helpdesk.models import (
    Attachment,
    Customer,
    Message,
    OrganizationDomain,
    Ticket,
    TicketParticipant,
    utcnow,
)
from helpdesk.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    ticket_id: int | None
    message_id: int | None
    customer_id: int | None
    created_ticket: bool
    duplicate: bool
    reopened: bool = False
    bounce: bool = False


async def ingest(session: AsyncSession, message: InboundMessage, *, settings: Settings) -> IngestResult:
    """Dedupe, resolve the customer, thread, store, move the SLA clock, commit, publish."""
    duplicate = await _existing(session, message)
    if duplicate is not None:
        return duplicate

    if message.bounce_of:
        bounced = await _record_bounce(session, message, settings)
        if bounced is not None:
            return bounced

    customer, _ = await resolve_customer(session, message.sender)
    ticket = await find_ticket(session, message, customer)
    now = utcnow()
    created = reopened = False

    if ticket is not None and ticket.status in ("solved", "closed") and not message.auto_generated:
        window = timedelta(days=settings.reopen_window_days)
        if ticket.status == "solved" and ticket.solved_at and message.received_at - ticket.solved_at <= window:
            ticket.status = "open"
            ticket.solved_at = None
            reopened = True
        else:
            ticket = None  # too late to reopen (or closed): a new conversation

    if ticket is None:
        ticket = Ticket(
            subject=(message.subject or _subject_from_text(message.text))[:500],
            status="new",
            channel=message.channel,
            account=message.account,
            platform_thread_id=message.thread_keys.platform_thread_id,
            customer_id=customer.id,
            organization_id=customer.organization_id,
            created_at=message.received_at,
            updated_at=now,
        )
        session.add(ticket)
        await session.flush()
        ticket.number = ticket.id
        created = True
        if not message.auto_generated:
            await sla_policies.apply_policy(session, ticket, message.received_at)
    elif not message.auto_generated:
        if ticket.status == "pending":
            ticket.status = "open"
        await sla_policies.customer_replied(session, ticket, message.received_at)

    if not message.auto_generated:
        ticket.last_inbound_at = max(filter(None, (ticket.last_inbound_at, message.received_at)))
    ticket.updated_at = now

    row = _message_row(message, ticket.id)
    session.add(row)
    for attachment in message.attachments:
        digest = store_blob(settings.attachments_dir, attachment.data)
        row.attachments.append(
            Attachment(
                sha256=digest,
                size=len(attachment.data),
                content_type=attachment.content_type[:200],
                filename=attachment.filename[:500],
                content_id=attachment.content_id,
                inline=attachment.inline,
            )
        )
    if message.cc:
        await _record_participants(session, ticket, customer, message)
    try:
        await session.commit()
    except IntegrityError:
        # a concurrent ingest of the same message won the race: report it as the duplicate it is
        await session.rollback()
        duplicate = await _existing(session, message)
        if duplicate is not None:
            return duplicate
        raise

    result = IngestResult(ticket.id, row.id, customer.id, created, False, reopened)
    live.publish(live.ticket_channel(ticket.id), {"event": "message.created", "ticket_id": ticket.id, "message_id": row.id})
    live.publish(live.queue_channel("all"), {"event": "ticket.created" if created else "ticket.updated", "ticket_id": ticket.id})
    return result


async def _existing(session: AsyncSession, message: InboundMessage) -> IngestResult | None:
    row = (
        await session.execute(
            select(Message.id, Message.ticket_id, Ticket.customer_id)
            .join(Ticket, Ticket.id == Message.ticket_id)
            .where(Message.channel == message.channel, Message.external_id == message.external_id)
        )
    ).first()
    if row is None:
        return None
    return IngestResult(row.ticket_id, row.id, row.customer_id, created_ticket=False, duplicate=True)


async def find_ticket(session: AsyncSession, message: InboundMessage, customer: Customer) -> Ticket | None:
    """The ticket a message continues: by reply headers, platform thread, then subject token."""
    keys = message.thread_keys
    refs = [r for r in (keys.in_reply_to, *keys.references) if r]
    if refs:
        ticket_id = await session.scalar(
            select(Message.ticket_id)
            .where(Message.channel == message.channel, Message.external_id.in_(refs))
            .order_by(Message.id.desc())
            .limit(1)
        )
        if ticket_id is not None:
            return await _survivor(session, ticket_id)
    if keys.platform_thread_id:
        ticket_id = await session.scalar(
            select(Ticket.id)
            .where(Ticket.channel == message.channel, Ticket.platform_thread_id == keys.platform_thread_id)
            .order_by(Ticket.id.desc())
            .limit(1)
        )
        if ticket_id is not None:
            return await _survivor(session, ticket_id)
    if keys.ticket_token is not None:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == keys.ticket_token))
        if ticket is not None:
            ticket = await _survivor(session, ticket.id)
            if await is_known_participant(session, ticket, customer, message):
                return ticket
            log.info("subject token [#%s] from a stranger: new ticket", keys.ticket_token)
    return None


async def is_known_participant(session: AsyncSession, ticket: Ticket, customer: Customer, message: InboundMessage) -> bool:
    """Only people already in the conversation may thread in by quoting `[#N]`."""
    if ticket.customer_id == customer.id:
        return True
    try:
        kind, value = normalise_identity(message.sender.kind, message.sender.value)
    except InvalidIdentity:
        return False
    participant = await session.scalar(
        select(TicketParticipant.id).where(
            TicketParticipant.ticket_id == ticket.id, TicketParticipant.kind == kind, TicketParticipant.value == value
        )
    )
    if participant is not None:
        return True
    if kind == "email" and ticket.organization_id is not None:
        org = await session.scalar(
            select(OrganizationDomain.organization_id).where(OrganizationDomain.domain == email_domain(value))
        )
        return org == ticket.organization_id
    return False


async def _survivor(session: AsyncSession, ticket_id: int) -> Ticket:
    """Follow merge pointers to the ticket that lives on."""
    ticket = await session.get(Ticket, ticket_id)
    seen = set()
    while ticket.merged_into_id is not None and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = await session.get(Ticket, ticket.merged_into_id)
    return ticket


async def _record_participants(session: AsyncSession, ticket: Ticket, customer: Customer, message: InboundMessage) -> None:
    own = {message.account.lower()} if message.account else set()
    existing = set(
        (await session.execute(
            select(TicketParticipant.kind, TicketParticipant.value).where(TicketParticipant.ticket_id == ticket.id)
        )).all()
    )
    sender = normalise_identity(message.sender.kind, message.sender.value)
    for identity in message.cc:
        try:
            key = normalise_identity(identity.kind, identity.value)
        except InvalidIdentity:
            continue
        if key in existing or key == sender or key[1] in own:
            continue
        existing.add(key)
        session.add(TicketParticipant(ticket_id=ticket.id, kind=key[0], value=key[1], display_name=identity.display_name))


async def _record_bounce(session: AsyncSession, message: InboundMessage, settings: Settings) -> IngestResult | None:
    """A bounce marks our outbound message failed and joins its ticket; it opens no ticket."""
    original = (
        await session.execute(
            select(Message.id, Message.ticket_id).where(
                Message.channel == message.channel,
                Message.external_id == message.bounce_of,
                Message.direction == "outbound",
            )
        )
    ).first()
    if original is None:
        return None
    reason = message.bounce_reason or "the recipient's mail server rejected the message"
    await session.execute(
        update(Message)
        .where(Message.id == original.id)
        .values(delivery_status="failed", delivery_error=f"bounced: {reason}", updated_at=utcnow())
    )
    row = _message_row(message, original.ticket_id)
    session.add(row)
    await session.commit()
    customer_id = await session.scalar(select(Ticket.customer_id).where(Ticket.id == original.ticket_id))
    live.publish(live.ticket_channel(original.ticket_id), {"event": "message.delivery", "message_id": original.id})
    return IngestResult(original.ticket_id, row.id, customer_id, created_ticket=False, duplicate=False, bounce=True)


def _message_row(message: InboundMessage, ticket_id: int) -> Message:
    return Message(
        ticket_id=ticket_id,
        direction="inbound",
        channel=message.channel,
        external_id=message.external_id,
        account=message.account,
        sender_kind=message.sender.kind,
        sender_value=_normalised_or_raw(message.sender.kind, message.sender.value),
        sender_name=message.sender.display_name,
        subject=message.subject,
        text=message.text,
        full_text=message.full_text if message.full_text != message.text else None,
        html=message.html,
        cc=[{"kind": i.kind, "value": i.value, "name": i.display_name} for i in message.cc] or None,
        in_reply_to=message.thread_keys.in_reply_to,
        references=list(message.thread_keys.references) or None,
        auto_generated=message.auto_generated,
        raw_ref=message.raw_ref,
        defects=list(message.defects) or None,
        created_at=message.received_at,
        updated_at=utcnow(),
    )


def _normalised_or_raw(kind: str, value: str) -> str:
    try:
        return normalise_identity(kind, value)[1]
    except InvalidIdentity:
        return value


def _subject_from_text(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:80] or "(no subject)"
