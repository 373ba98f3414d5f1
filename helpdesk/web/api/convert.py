"""Rows to the API's JSON shapes (helpdesk/web/api/schemas.py)."""
from __future__ import annotations

from decimal import Decimal

from helpdesk.customers.attributes import attributes_of
from helpdesk.customers.records import CustomerView
from helpdesk.models import Customer, CustomerIdentity, Message, Order, Organization, Ticket
from helpdesk.web.api import schemas as s


def money(value: Decimal | None) -> str:
    return f"{Decimal(value or 0):.2f}"


def identity(row: CustomerIdentity) -> s.IdentityOut:
    return s.IdentityOut(id=row.id, kind=row.kind, value=row.value, display_name=row.display_name,
                         verified=bool(row.verified), created_at=row.created_at)


def order(row: Order) -> s.OrderOut:
    return s.OrderOut(
        id=row.id, customer_id=row.customer_id, source=row.source, external_id=row.external_id, number=row.number,
        status=row.status, currency=row.currency, total=money(row.total), placed_at=row.placed_at,
        updated_at=row.updated_at,
        items=[s.OrderItemOut(id=i.id, external_id=i.external_id, sku=i.sku, title=i.title, quantity=i.quantity,
                              unit_price=money(i.unit_price)) for i in row.items])


def customer(row: Customer, view: CustomerView | None = None) -> s.CustomerOut:
    """A customer with identities and organization loaded; `view` adds the order summary."""
    orders = None
    if view is not None:
        orders = s.OrderSummary(count=view.order_count,
                                lifetime_value=[s.MoneyTotal(currency=c, total=money(t)) for c, t in view.lifetime_value],
                                recent=[order(o) for o in view.orders])
    return s.CustomerOut(
        id=row.id, name=row.name, notes=row.notes,
        organization=s.OrganizationRef(id=row.organization.id, name=row.organization.name) if row.organization else None,
        identities=[identity(i) for i in row.identities],
        attributes=[s.AttributeOut(key=a.key, type=a.type, value=a.value) for a in attributes_of(row)],
        created_at=row.created_at, updated_at=row.updated_at, orders=orders)


def organization(row: Organization) -> s.OrganizationOut:
    return s.OrganizationOut(id=row.id, name=row.name, domains=sorted(d.domain for d in row.domains),
                             created_at=row.created_at)


def message(row: Message) -> s.MessageOut:
    return s.MessageOut(id=row.id, direction=row.direction, channel=row.channel, sender_name=row.sender_name,
                        agent_id=row.agent_id, subject=row.subject, text=row.text or "",
                        delivery_status=row.delivery_status, created_at=row.created_at)


def ticket(row: Ticket, tags: list[str], messages: list[Message] | None = None) -> s.TicketOut:
    return s.TicketOut(
        id=row.id, number=row.number, subject=row.subject or "", status=row.status, priority=row.priority,
        channel=row.channel, customer_id=row.customer_id, organization_id=row.organization_id,
        assignee_id=row.assignee_id, team_id=row.team_id, tags=tags, created_at=row.created_at,
        updated_at=row.updated_at, merged_into_id=row.merged_into_id,
        messages=[message(m) for m in messages] if messages is not None else None)
