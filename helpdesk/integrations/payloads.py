"""What each event tells an integration (docs/webhooks.md): read with Core SQL on a sync
connection, inside the transaction of the change, so the payload is the state that change wrote.
Read only when some endpoint subscribes to the event (helpdesk.integrations.webhooks)."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, select

from helpdesk.models import Agent, Customer, CustomerIdentity, Message, Ticket, TicketTag, utcnow

_T, _C, _A, _I, _M, _TAG = (Ticket.__table__, Customer.__table__, Agent.__table__, CustomerIdentity.__table__,
                            Message.__table__, TicketTag.__table__)

_TICKET = (select(_T.c.id, _T.c.number, _T.c.subject, _T.c.status, _T.c.priority, _T.c.channel, _T.c.account,
                  _T.c.team_id, _T.c.customer_id, _T.c.created_at, _T.c.updated_at, _T.c.assignee_id,
                  _A.c.name.label("assignee_name"), _A.c.email.label("assignee_email"))
           .select_from(_T.outerjoin(_A, _A.c.id == _T.c.assignee_id)).where(_T.c.id == bindparam("id")))
_TAGS = select(_TAG.c.tag).where(_TAG.c.ticket_id == bindparam("id")).order_by(_TAG.c.tag)
_CUSTOMER = select(_C.c.id, _C.c.name, _C.c.organization_id).where(_C.c.id == bindparam("id"))
_EMAILS = (select(_I.c.value).where(_I.c.customer_id == bindparam("id"), _I.c.kind == "email")
           .order_by(_I.c.id))
_MESSAGE = select(_M.c.id, _M.c.ticket_id, _M.c.direction, _M.c.channel, _M.c.sender_kind, _M.c.sender_value,
                  _M.c.sender_name, _M.c.agent_id, _M.c.subject, _M.c.text, _M.c.auto_generated,
                  _M.c.created_at).where(_M.c.id == bindparam("id"))


def envelope(event: str, data: dict) -> dict:
    """{"id", "event", "created_at", "data"}: the same for every event; `id` is the event's, shared by
    its deliveries to every endpoint (the `Helpdesk-Delivery` header names the delivery)."""
    return {"id": f"evt_{uuid.uuid4().hex}", "event": event, "created_at": _iso(utcnow()), "data": data}


def data_for(conn, event: str, refs: dict) -> dict:
    """The `data` of `event` from the ids in `refs` (ticket_id, message_id, customer_id, ...)."""
    if event == "customer.merged":
        return {"customer": customer(conn, refs["customer_id"]), "merged_customer_id": refs["merged_customer_id"]}
    data = {"ticket": ticket(conn, refs["ticket_id"])}
    if event == "ticket.updated":
        data["changes"] = refs.get("changes") or {}
    if event == "message.created":
        data["message"] = message(conn, refs["message_id"])
    return data


def ticket(conn, ticket_id: int) -> dict:
    row = conn.execute(_TICKET, {"id": ticket_id}).one()
    assignee = ({"id": row.assignee_id, "name": row.assignee_name, "email": row.assignee_email}
                if row.assignee_id is not None else None)
    return {"id": row.id, "number": row.number, "subject": row.subject, "status": row.status,
            "priority": row.priority, "channel": row.channel, "account": row.account, "assignee": assignee,
            "team_id": row.team_id, "tags": list(conn.execute(_TAGS, {"id": ticket_id}).scalars()),
            "customer": customer(conn, row.customer_id),
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}


def customer(conn, customer_id: int) -> dict:
    row = conn.execute(_CUSTOMER, {"id": customer_id}).one()
    return {"id": row.id, "name": row.name, "organization_id": row.organization_id,
            "emails": list(conn.execute(_EMAILS, {"id": customer_id}).scalars())}


def message(conn, message_id: int) -> dict:
    row = conn.execute(_MESSAGE, {"id": message_id}).one()
    return {"id": row.id, "ticket_id": row.ticket_id, "direction": row.direction, "channel": row.channel,
            "author": {"kind": "agent" if row.agent_id else (row.sender_kind or "system"), "agent_id": row.agent_id,
                       "name": row.sender_name, "address": row.sender_value},
            "subject": row.subject, "text": row.text, "auto_generated": row.auto_generated,
            "created_at": _iso(row.created_at)}


def ping_data() -> dict:
    return {"message": "A test event from the helpdesk: the endpoint is reachable and the signature checks."}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
