"""The API's list queries: one keyset page (`id > after`, ascending, `limit + 1` rows) each, filters
applied in SQL on indexed columns where there are some."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from helpdesk.customers.identities import InvalidIdentity
from helpdesk.customers.resolution import normalise
from helpdesk.models import Customer, CustomerIdentity, Order, Organization, Ticket, TicketTag


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def customers(session: AsyncSession, *, after: int, limit: int, q: str | None) -> list[Customer]:
    """Live customers (no tombstones); `q` matches a name's part, an email's start, or a phone
    (any spelling that normalises to the stored E.164)."""
    query = (select(Customer).where(Customer.id > after, Customer.merged_into_id.is_(None))
             .options(selectinload(Customer.identities), joinedload(Customer.organization))
             .order_by(Customer.id).limit(limit + 1))
    text = (q or "").strip()
    if text:
        ci = CustomerIdentity
        matches = [func.lower(Customer.name).like(f"%{_like(text.lower())}%", escape="\\"),
                   exists().where(ci.customer_id == Customer.id, ci.value.like(f"{_like(text.lower())}%", escape="\\"))]
        try:
            _, phone = normalise("phone", text)
            matches.append(exists().where(ci.customer_id == Customer.id, ci.value == phone))
        except InvalidIdentity:
            pass
        query = query.where(or_(*matches))
    return list(await session.scalars(query))


async def orders(session: AsyncSession, *, customer_id: int, after: int, limit: int) -> list[Order]:
    return list(await session.scalars(
        select(Order).where(Order.customer_id == customer_id, Order.id > after)
        .options(selectinload(Order.items)).order_by(Order.id).limit(limit + 1)))


async def organizations(session: AsyncSession, *, after: int, limit: int) -> list[Organization]:
    return list(await session.scalars(
        select(Organization).where(Organization.id > after).options(selectinload(Organization.domains))
        .order_by(Organization.id).limit(limit + 1)))


@dataclass(frozen=True)
class TicketFilters:
    status: str | None = None
    priority: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    channel: str | None = None
    updated_since: datetime | None = None


async def tickets(session: AsyncSession, filters: TicketFilters, *, after: int, limit: int) -> list[Ticket]:
    """Tickets (merged ones left out: their messages live on the survivor)."""
    query = select(Ticket).where(Ticket.id > after, Ticket.merged_into_id.is_(None))
    for column, value in ((Ticket.status, filters.status), (Ticket.priority, filters.priority),
                          (Ticket.assignee_id, filters.assignee_id), (Ticket.customer_id, filters.customer_id),
                          (Ticket.channel, filters.channel)):
        if value is not None:
            query = query.where(column == value)
    if filters.unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    if filters.updated_since is not None:
        query = query.where(Ticket.updated_at >= filters.updated_since)
    return list(await session.scalars(query.order_by(Ticket.id).limit(limit + 1)))


async def tags_of(session: AsyncSession, ticket_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in ticket_ids}
    if ticket_ids:
        for ticket_id, tag in await session.execute(select(TicketTag.ticket_id, TicketTag.tag)
                                                    .where(TicketTag.ticket_id.in_(ticket_ids))
                                                    .order_by(TicketTag.ticket_id, TicketTag.tag)):
            found[ticket_id].append(tag)
    return found
