"""Tickets as portable JSON documents: the shape other tools rely on (see issue 3).

One query per batch of tickets (keyset-paged by id): tickets, customers, messages, attachments and agents are
joined, and each customer's identities come aggregated as JSON in a correlated subquery,
so the export costs the same number of round trips for 10 or 10,000 messages per batch.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent, Attachment, Customer, CustomerIdentity, Message, Ticket

BATCH = 200


async def ticket_documents(session: AsyncSession, *, batch: int = BATCH) -> AsyncIterator[dict]:
    """Every ticket, oldest first, as {"number", "status", "channel", "subject", "customer", "messages"}."""
    after = 0
    while True:
        rows = (await session.execute(_batch_query(session, after, batch))).all()
        if not rows:
            return
        after = rows[-1].ticket_id
        for document in _documents(rows):
            yield document


def _batch_query(session: AsyncSession, after: int, batch: int):
    identities = _identities_json(session.bind.dialect.name)
    return (
        select(
            Ticket.id.label("ticket_id"), Ticket.number, Ticket.status, Ticket.channel.label("ticket_channel"),
            Ticket.subject.label("ticket_subject"), Customer.id.label("customer_id"),
            Customer.name.label("customer_name"), identities.label("identities"),
            Message.id.label("message_id"), Message.direction, Message.channel, Message.external_id,
            Message.sender_kind, Message.sender_value, Message.sender_name, Message.account, Message.subject,
            Message.text, Message.auto_generated, Message.created_at, Agent.email.label("agent_email"),
            Attachment.id.label("attachment_id"), Attachment.filename, Attachment.content_type, Attachment.size,
        )
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Message, Message.ticket_id == Ticket.id)
        .outerjoin(Agent, Agent.id == Message.agent_id)
        .outerjoin(Attachment, Attachment.message_id == Message.id)
        .where(Ticket.id.in_(select(Ticket.id).where(Ticket.id > after).order_by(Ticket.id).limit(batch)))
        .order_by(Ticket.id, Message.id, Attachment.id)
    )


def _identities_json(dialect: str):
    """A customer's identities as a JSON array, ordered by id, in each database's own JSON functions."""
    if dialect == "postgresql":
        obj = func.json_build_object(literal("kind"), CustomerIdentity.kind, literal("value"), CustomerIdentity.value)
        return (
            select(func.json_agg(aggregate_order_by(obj, CustomerIdentity.id)))
            .where(CustomerIdentity.customer_id == Customer.id)
            .scalar_subquery()
        )
    inner = (
        select(CustomerIdentity.kind, CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == Customer.id)
        .order_by(CustomerIdentity.id)
        .correlate(Customer)  # SQLite < 3.44 has no ORDER BY inside aggregates: order in a correlated derived table
        .subquery()
    )
    obj = func.json_object(literal("kind"), inner.c.kind, literal("value"), inner.c.value)
    return select(func.json_group_array(obj)).scalar_subquery()


def _documents(rows) -> list[dict]:
    tickets: dict[int, dict] = {}
    messages: dict[int, dict] = {}
    for row in rows:
        ticket = tickets.get(row.ticket_id)
        if ticket is None:
            identities = json.loads(row.identities) if isinstance(row.identities, str) else (row.identities or [])
            ticket = tickets[row.ticket_id] = {
                "number": row.number,
                "status": row.status,
                "channel": row.ticket_channel,
                "subject": row.ticket_subject,
                "customer": {
                    "id": row.customer_id,
                    "name": row.customer_name,
                    "identities": [{"kind": i["kind"], "value": i["value"]} for i in identities],
                },
                "messages": [],
            }
        if row.message_id is None:
            continue
        message = messages.get(row.message_id)
        if message is None:
            message = messages[row.message_id] = {
                "direction": row.direction,
                "channel": row.channel,
                "external_id": row.external_id,
                "sender": _sender(row),
                "subject": row.subject,
                "text": row.text,
                "auto_generated": bool(row.auto_generated),
                "attachments": [],
                "created_at": _iso(row.created_at),
            }
            ticket["messages"].append(message)
        if row.attachment_id is not None:
            message["attachments"].append(
                {"filename": row.filename, "content_type": row.content_type, "size": row.size}
            )
    return list(tickets.values())


def _sender(row) -> dict:
    if row.sender_value:
        return {"kind": row.sender_kind, "value": row.sender_value, "name": row.sender_name}
    if row.direction == "outbound" and row.account:  # our reply, sent from the mailbox / page
        return {"kind": "email" if row.channel == "email" else row.channel, "value": row.account,
                "name": row.sender_name}
    return {"kind": "agent", "value": row.agent_email, "name": row.sender_name}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
