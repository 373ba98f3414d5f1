"""A customer's record: the 360° view, editing, merging, organizations."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from helpdesk.customers import conflicts
from helpdesk.integrations import webhooks
from helpdesk.models import (
    OPEN_STATUSES,
    AuditEvent,
    Customer,
    CustomerIdentity,
    Order,
    Organization,
    OrganizationDomain,
    Ticket,
)

RECENT_ORDERS = 5
TICKET_HISTORY = 50


class CustomerError(ValueError):
    """A customer change that cannot be made; the message says why, next to the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class CustomerView:
    """Everything the customer panel shows, loaded in a fixed number of queries."""

    customer: Customer
    orders: list[Order]
    order_count: int
    lifetime_value: list[tuple[str, Decimal]]  # per currency
    open_tickets: list[Ticket]
    past_tickets: list[Ticket]
    all_orders: bool = False

    @property
    def first_name(self) -> str:
        return (self.customer.name or "").split(" ")[0]


async def survivor_id(session: AsyncSession, customer_id: int) -> int | None:
    """The customer a (possibly merged) id stands for today: tombstones point at survivors."""
    seen: set[int] = set()
    current: int | None = customer_id
    while current is not None and current not in seen:
        seen.add(current)
        merged_into = (await session.execute(select(Customer.merged_into_id).where(Customer.id == current))).first()
        if merged_into is None:
            return None
        if merged_into[0] is None:
            return current
        current = merged_into[0]
    return current


@dataclass(frozen=True)
class CustomerMatch:
    """A customer found by one of their identities (the search box's email or phone)."""

    id: int
    name: str | None
    kinds: tuple[str, ...]  # "phone", "whatsapp": one number can be both
    value: str


async def customers_with_identity(session: AsyncSession, identities: list[tuple[str, str]]) -> list[CustomerMatch]:
    """The customers owning any of these normalised (kind, value) identities: an exact match on
    the unique (kind, value) index. Merges move identities, so the owner is the survivor."""
    if not identities:
        return []
    rows = await session.execute(
        select(Customer.id, Customer.name, CustomerIdentity.kind, CustomerIdentity.value)
        .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
        .where(tuple_(CustomerIdentity.kind, CustomerIdentity.value).in_(identities))
        .order_by(Customer.id, CustomerIdentity.kind)
    )
    found: dict[int, CustomerMatch] = {}
    for customer_id, name, kind, value in rows:
        known = found.get(customer_id)
        found[customer_id] = CustomerMatch(customer_id, name, (known.kinds if known else ()) + (kind,), value)
    return list(found.values())


async def customer_name(session: AsyncSession, customer_id: int) -> str | None:
    return await session.scalar(select(Customer.name).where(Customer.id == customer_id))


async def load_customer_view(session: AsyncSession, customer_id: int, *, all_orders: bool = False) -> CustomerView | None:
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id)
        .options(selectinload(Customer.identities), joinedload(Customer.organization))
    )
    if customer is None:
        return None
    orders_query = (
        select(Order).where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc()).options(selectinload(Order.items))
    )
    if not all_orders:
        orders_query = orders_query.limit(RECENT_ORDERS)
    orders = list(await session.scalars(orders_query))
    counted = Order.status.not_in(("refunded", "cancelled"))  # money the customer kept spending
    totals = (
        await session.execute(
            select(Order.currency, func.count(), func.sum(Order.total).filter(counted), func.count().filter(counted))
            .where(Order.customer_id == customer_id)
            .group_by(Order.currency).order_by(Order.currency)
        )
    ).all()
    order_count = sum(orders for _, orders, _, _ in totals)
    tickets = list(
        await session.scalars(
            select(Ticket).where(Ticket.customer_id == customer_id, Ticket.merged_into_id.is_(None))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(TICKET_HISTORY)
        )
    )
    return CustomerView(
        customer=customer,
        orders=orders,
        order_count=order_count or 0,
        lifetime_value=[(currency, Decimal(total or 0)) for currency, _, total, kept in totals if kept],
        open_tickets=[t for t in tickets if t.status in OPEN_STATUSES],
        past_tickets=[t for t in tickets if t.status not in OPEN_STATUSES],
        all_orders=all_orders,
    )


async def update_customer(session: AsyncSession, customer: Customer, *, name: str, notes: str,
                          organization_id: int | None) -> Customer:
    name = name.strip()
    if len(name) > 200:
        raise CustomerError("the name can have at most 200 characters", field="name")
    if organization_id is not None and await session.get(Organization, organization_id) is None:
        raise CustomerError("that organization does not exist", field="organization_id")
    customer.name = name or None
    customer.notes = notes.strip() or None
    customer.organization_id = organization_id
    await session.commit()
    return customer


async def merge_customers(session: AsyncSession, source_id: int, target_id: int, *, agent_id: int | None = None) -> Customer:
    """Merge `source` into `target`: identities, tickets and orders move; `source` stays as a
    tombstone (`merged_into_id`) so old links and stored ids still lead to the survivor."""
    target_id = await survivor_id(session, target_id)
    if target_id is None:
        raise CustomerError("there is no such customer to merge into", field="target")
    source = await session.get(Customer, source_id)
    target = await session.get(Customer, target_id)
    if source is None:
        raise CustomerError("there is no such customer", field="target")
    if source.merged_into_id is not None:
        raise CustomerError("this customer is already merged", field="target")
    if source.id == target.id:
        raise CustomerError("a customer cannot be merged into itself", field="target")
    moved = [(await session.execute(update(table).where(table.customer_id == source.id)
                                    .values(customer_id=target.id))).rowcount
             for table in (CustomerIdentity, Ticket, Order)]
    # earlier merges into the source now lead straight to the survivor
    await session.execute(update(Customer).where(Customer.merged_into_id == source.id).values(merged_into_id=target.id))
    if not target.name and source.name:
        target.name = source.name
    if source.notes:
        target.notes = f"{target.notes}\n\n{source.notes}" if target.notes else source.notes
    if target.organization_id is None:
        target.organization_id = source.organization_id
    if source.attributes:  # the survivor's own values win; the source's other keys move
        target.attributes = {**source.attributes, **(target.attributes or {})}
    source.merged_into_id = target.id
    await conflicts.resolve_between(session, source.id, target.id, agent_id=agent_id)
    session.add(AuditEvent(agent_id=agent_id, action="customer.merge", object_type="customer", object_id=source.id,
                           data={"into": target.id, "identities": moved[0], "tickets": moved[1], "orders": moved[2]}))
    await webhooks.emit(session, "customer.merged", {"customer_id": target.id, "merged_customer_id": source.id})
    await session.commit()
    return target


async def list_organizations(session: AsyncSession) -> list[Organization]:
    return list(await session.scalars(select(Organization).order_by(Organization.name)))
