"""Organizations: the companies customers belong to, found by their email domain.

A domain names one organization. A new customer is linked on first contact
(`identities._first_contact`); adding a domain links the existing customers of that domain who
have no organization yet. Free-mail domains are refused: gmail.com is nobody's company.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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
from helpdesk.models.base import MAX_ID

# Domains anyone can have an address at: linking by them would put strangers in one organization.
# HELPDESK_FREEMAIL_DOMAINS (comma-separated) replaces this list (Settings.freemail_domains).
FREEMAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "msn.com",
    "yahoo.com", "yahoo.co.uk", "yahoo.de", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com",
    "gmx.de", "gmx.net", "gmx.com", "web.de", "t-online.de", "freenet.de", "posteo.de", "mailbox.org",
    "proton.me", "protonmail.com", "zoho.com", "yandex.com", "yandex.ru", "mail.ru", "qq.com", "163.com",
})
NAME_MAX = 200
CUSTOMERS_SHOWN = 200
TICKETS_SHOWN = 25
# an order that was refunded or cancelled is not money the organization spent (as in the customer panel)
NOT_SPENT = ("refunded", "cancelled")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class OrganizationError(ValueError):
    """A change to an organization that cannot be made; the message says why, next to the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def freemail_domains(configured: Iterable[str] | None) -> frozenset[str]:
    """The free-mail list in force: the configured one when set, else FREEMAIL_DOMAINS."""
    if configured is None:
        return FREEMAIL_DOMAINS
    return frozenset(d.strip().lower() for d in configured if d.strip())


def normalise_domain(value: str) -> str:
    """A domain as typed ("@Example.COM ", "https://example.com/") in the one form we store."""
    text = (value or "").strip().lower()
    text = re.sub(r"^[a-z]+://", "", text).split("/", 1)[0]
    text = text.rsplit("@", 1)[-1].strip(".")
    if not text:
        raise OrganizationError("write a domain, such as example.com", field="domain")
    try:
        text = text.encode("idna").decode("ascii")  # bücher.de -> xn--bcher-kva.de, as mail stores it
    except UnicodeError:
        raise OrganizationError(f"{value.strip()!r} is not a domain", field="domain") from None
    labels = text.split(".")
    if len(text) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise OrganizationError(f"{value.strip()!r} is not a domain, such as example.com", field="domain")
    return text


def allowed_domain(value: str, freemail: frozenset[str] = FREEMAIL_DOMAINS) -> str:
    """The normalised domain, unless it is not one or is a free-mail domain (OrganizationError)."""
    domain = normalise_domain(value)
    if domain in freemail:
        raise OrganizationError(f"{domain} is a free-mail domain: its addresses belong to many people, "
                                "so it cannot name one organization", field="domain")
    return domain


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise OrganizationError("give the organization a name", field="name")
    if len(name) > NAME_MAX:
        raise OrganizationError(f"the name can have at most {NAME_MAX} characters", field="name")
    return name


async def find_organization(session: AsyncSession, given: str) -> Organization | None:
    """The organization an id, a name (any case) or one of its domains names, or None."""
    value = (given or "").strip().lower()
    if value.isascii() and value.isdigit():
        found = await session.get(Organization, int(value)) if int(value) <= MAX_ID else None
        if found is not None:
            return found
    return await session.scalar(
        select(Organization).outerjoin(OrganizationDomain, OrganizationDomain.organization_id == Organization.id)
        .where(or_(func.lower(Organization.name) == value, OrganizationDomain.domain == value))
        .order_by(Organization.id).limit(1)
    )


async def create_organization(session: AsyncSession, name: str, *, domains: Iterable[str] = (),
                              freemail: frozenset[str] = FREEMAIL_DOMAINS, agent_id: int | None = None) -> Organization:
    """Create an organization with its domains (their customers linked): all of it or, on a refused
    domain, nothing."""
    organization = Organization(name=_clean_name(name))
    session.add(organization)
    await session.flush()
    session.add(AuditEvent(agent_id=agent_id, action="organization.create", object_type="organization",
                           object_id=organization.id, data={"name": organization.name}))
    try:
        for domain in domains:
            await _link_domain(session, organization, domain, freemail, agent_id)
    except OrganizationError:
        await session.rollback()
        raise
    await _commit(session)
    return organization


async def rename_organization(session: AsyncSession, organization: Organization, name: str, *,
                              agent_id: int | None = None) -> Organization:
    organization.name = _clean_name(name)
    session.add(AuditEvent(agent_id=agent_id, action="organization.rename", object_type="organization",
                           object_id=organization.id, data={"name": organization.name}))
    await session.commit()
    return organization


async def add_domain(session: AsyncSession, organization: Organization, domain: str, *,
                     freemail: frozenset[str] = FREEMAIL_DOMAINS, agent_id: int | None = None) -> int:
    """Give the organization an email domain and link the customers who write from it and have no
    organization yet (one UPDATE); returns how many were linked."""
    linked = await _link_domain(session, organization, domain, freemail, agent_id)
    await _commit(session)
    return linked


async def _link_domain(session: AsyncSession, organization: Organization, domain: str, freemail: frozenset[str],
                       agent_id: int | None) -> int:
    domain = allowed_domain(domain, freemail)
    holder = await session.scalar(
        select(Organization.name).join(OrganizationDomain).where(OrganizationDomain.domain == domain)
    )
    if holder is not None:
        raise OrganizationError(f"{domain} already belongs to {holder}", field="domain")
    session.add(OrganizationDomain(organization_id=organization.id, domain=domain))
    # the domain is validated to [a-z0-9.-], so it holds none of LIKE's wildcards
    writes_from_domain = exists().where(
        CustomerIdentity.customer_id == Customer.id, CustomerIdentity.kind == "email",
        CustomerIdentity.value.like(f"%@{domain}"),
    )
    linked = await session.execute(
        update(Customer)
        .where(Customer.organization_id.is_(None), Customer.merged_into_id.is_(None), writes_from_domain)
        .values(organization_id=organization.id)
        .execution_options(synchronize_session=False)
    )
    session.add(AuditEvent(agent_id=agent_id, action="organization.domain_add", object_type="organization",
                           object_id=organization.id, data={"domain": domain, "linked": linked.rowcount}))
    return linked.rowcount


async def _commit(session: AsyncSession) -> None:
    try:
        await session.commit()
    except IntegrityError:  # another lead added the same domain a moment ago
        await session.rollback()
        raise OrganizationError("that domain was just added to another organization", field="domain") from None


async def remove_domain(session: AsyncSession, organization: Organization, domain: str, *,
                        agent_id: int | None = None) -> None:
    """Forget a domain; customers linked through it stay (an agent may have confirmed them)."""
    removed = await session.execute(
        delete(OrganizationDomain)
        .where(OrganizationDomain.organization_id == organization.id, OrganizationDomain.domain == domain.strip().lower())
    )
    if not removed.rowcount:
        raise OrganizationError(f"{organization.name} has no domain {domain.strip()}", field="domain")
    session.add(AuditEvent(agent_id=agent_id, action="organization.domain_remove", object_type="organization",
                           object_id=organization.id, data={"domain": domain.strip().lower()}))
    await session.commit()


@dataclass(frozen=True)
class OrganizationRow:
    """One line of the organizations list."""

    id: int
    name: str
    domains: list[str]
    customers: int
    open_tickets: int


async def organization_rows(session: AsyncSession) -> list[OrganizationRow]:
    """Every organization with its domains and counts: three grouped queries, whatever the size."""
    customers = (
        select(Customer.organization_id, func.count().label("n"))
        .where(Customer.organization_id.is_not(None), Customer.merged_into_id.is_(None))
        .group_by(Customer.organization_id).subquery()
    )
    open_tickets = (
        select(Customer.organization_id, func.count().label("n"))
        .join(Ticket, Ticket.customer_id == Customer.id)
        .where(Customer.organization_id.is_not(None), Ticket.status.in_(OPEN_STATUSES),
               Ticket.merged_into_id.is_(None))
        .group_by(Customer.organization_id).subquery()
    )
    rows = (await session.execute(
        select(Organization.id, Organization.name, func.coalesce(customers.c.n, 0), func.coalesce(open_tickets.c.n, 0))
        .outerjoin(customers, customers.c.organization_id == Organization.id)
        .outerjoin(open_tickets, open_tickets.c.organization_id == Organization.id)
        .order_by(func.lower(Organization.name), Organization.id)
    )).all()
    domains: dict[int, list[str]] = {}
    for organization_id, domain in await session.execute(
        select(OrganizationDomain.organization_id, OrganizationDomain.domain).order_by(OrganizationDomain.domain)
    ):
        domains.setdefault(organization_id, []).append(domain)
    return [OrganizationRow(id, name, domains.get(id, []), n_customers, n_open)
            for id, name, n_customers, n_open in rows]


@dataclass(frozen=True)
class MemberRow:
    """A customer of the organization, with their numbers."""

    id: int
    name: str | None
    email: str | None
    open_tickets: int
    tickets: int
    orders: int


@dataclass(frozen=True)
class OrderTotal:
    currency: str
    orders: int
    spent: Decimal  # without refunded and cancelled orders


@dataclass
class OrganizationView:
    """Everything the organization page shows, loaded in a fixed number of queries."""

    organization: Organization
    domains: list[str]
    customer_count: int
    members: list[MemberRow]
    open_tickets: list[Ticket]
    open_ticket_count: int
    recent_tickets: list[Ticket]
    order_totals: list[OrderTotal]

    @property
    def order_count(self) -> int:
        return sum(total.orders for total in self.order_totals)


async def load_organization_view(session: AsyncSession, organization_id: int) -> OrganizationView | None:
    organization = await session.get(Organization, organization_id)
    if organization is None:
        return None
    member = (Customer.organization_id == organization_id) & Customer.merged_into_id.is_(None)
    domains = list(await session.scalars(
        select(OrganizationDomain.domain).where(OrganizationDomain.organization_id == organization_id)
        .order_by(OrganizationDomain.domain)
    ))
    customer_count = await session.scalar(select(func.count()).select_from(Customer).where(member))
    return OrganizationView(
        organization=organization,
        domains=domains,
        customer_count=customer_count or 0,
        members=await _members(session, member),
        open_tickets=await _tickets(session, organization_id, open_only=True),
        open_ticket_count=await session.scalar(
            select(func.count()).select_from(Ticket).join(Customer, Customer.id == Ticket.customer_id)
            .where(member, Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into_id.is_(None))
        ) or 0,
        recent_tickets=await _tickets(session, organization_id, open_only=False),
        order_totals=await order_totals(session, organization_id),
    )


async def order_totals(session: AsyncSession, organization_id: int) -> list[OrderTotal]:
    """Orders and money spent per currency by the organization's customers: one grouped query."""
    spent = Order.status.not_in(NOT_SPENT)
    rows = await session.execute(
        select(Order.currency, func.count(), func.coalesce(func.sum(Order.total).filter(spent), 0))
        .join(Customer, Customer.id == Order.customer_id)
        .where(Customer.organization_id == organization_id, Customer.merged_into_id.is_(None))
        .group_by(Order.currency).order_by(Order.currency)
    )
    return [OrderTotal(currency, orders, Decimal(total)) for currency, orders, total in rows]


async def _members(session: AsyncSession, member) -> list[MemberRow]:
    members = select(Customer.id).where(member)  # the counts group only these customers' rows
    tickets = (
        select(Ticket.customer_id, func.count().label("all"),
               func.count().filter(Ticket.status.in_(OPEN_STATUSES)).label("open"))
        .where(Ticket.customer_id.in_(members), Ticket.merged_into_id.is_(None)).group_by(Ticket.customer_id)
        .subquery()
    )
    orders = (
        select(Order.customer_id, func.count().label("n"))
        .where(Order.customer_id.in_(members)).group_by(Order.customer_id).subquery()
    )
    email = (
        select(func.min(CustomerIdentity.value))
        .where(CustomerIdentity.customer_id == Customer.id, CustomerIdentity.kind == "email")
        .correlate(Customer).scalar_subquery()
    )
    rows = await session.execute(
        select(Customer.id, Customer.name, email, func.coalesce(tickets.c.open, 0), func.coalesce(tickets.c.all, 0),
               func.coalesce(orders.c.n, 0))
        .outerjoin(tickets, tickets.c.customer_id == Customer.id)
        .outerjoin(orders, orders.c.customer_id == Customer.id)
        .where(member)
        .order_by(func.coalesce(tickets.c.open, 0).desc(), func.lower(Customer.name), Customer.id)
        .limit(CUSTOMERS_SHOWN)
    )
    return [MemberRow(*row) for row in rows]


async def _tickets(session: AsyncSession, organization_id: int, *, open_only: bool) -> list[Ticket]:
    query = (
        select(Ticket).join(Customer, Customer.id == Ticket.customer_id)
        .where(Customer.organization_id == organization_id, Customer.merged_into_id.is_(None),
               Ticket.merged_into_id.is_(None))
    )
    if open_only:
        query = query.where(Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    else:
        query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    return list(await session.scalars(query.limit(TICKETS_SHOWN)))
