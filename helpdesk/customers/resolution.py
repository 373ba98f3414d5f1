"""Identity resolution: which customer an order, an API call or an import is about, by the
identities it names (email, phone, platform ids), in one place.

The rules, in order:
- every identity is normalised (`identities.normalise_identity`: a case-insensitive email, a phone in
  E.164, a platform id trimmed); plus-addresses (ann+shop@x.com) are folded into the plain address
  only when `fold_plus_addresses` is on (`HELPDESK_FOLD_PLUS_ADDRESSES=1`): they are often a
  different mailbox on purpose;
- nobody holds any of them: a new customer with all of them (its organization by email domain);
- one customer holds some of them: that customer, who gets the others;
- several customers hold them: the holder of the first identity given (the caller lists its
  strongest first: an order's email before its phone) is chosen, and each identity held by someone
  else is flagged as an `IdentityConflict` for an agent. Nothing is ever merged on its own.

Ingest, the hot path, resolves its one sender with `identities.resolve_customer`; this module is for
everything else and uses the same normal forms, so both find the same customer.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.identities import InvalidIdentity, email_domain, normalise_identity
from helpdesk.models import Customer, CustomerIdentity, IdentityConflict, OrganizationDomain


@dataclass(frozen=True)
class Claimed:
    """An identity as a source names it, before normalising."""

    kind: str
    value: str
    display_name: str | None = None
    verified: bool = False


@dataclass
class Resolution:
    customer_id: int
    created: bool = False  # a new customer
    added: list[tuple[str, str]] = field(default_factory=list)  # identities the customer got now
    conflicts: list[int] = field(default_factory=list)  # IdentityConflict ids flagged
    skipped: list[str] = field(default_factory=list)  # identities that could not be read, and why


def fold_plus_addresses() -> bool:
    return os.environ.get("HELPDESK_FOLD_PLUS_ADDRESSES", "") in ("1", "true", "yes")


def normalise(kind: str, value: str, *, fold_plus: bool | None = None) -> tuple[str, str]:
    """`identities.normalise_identity`, with this module's plus-address rule. Raises InvalidIdentity."""
    kind, value = normalise_identity(kind, value)
    if kind == "email" and (fold_plus_addresses() if fold_plus is None else fold_plus):
        local, _, domain = value.partition("@")
        value = f"{local.split('+', 1)[0]}@{domain}"
    return kind, value


async def holder(session: AsyncSession, kind: str, value: str) -> int | None:
    """The customer (merge tombstones followed) holding a normalised identity, if any."""
    customer_id = await session.scalar(select(CustomerIdentity.customer_id).where(
        CustomerIdentity.kind == kind, CustomerIdentity.value == value))
    seen: set[int] = set()
    while customer_id is not None and customer_id not in seen:
        seen.add(customer_id)
        merged_into = await session.scalar(select(Customer.merged_into_id).where(Customer.id == customer_id))
        if merged_into is None:
            return customer_id
        customer_id = merged_into
    return customer_id


async def resolve(session: AsyncSession, claimed: Sequence[Claimed], *, name: str | None = None, source: str,
                  create: bool = True, fold_plus: bool | None = None) -> Resolution | None:
    """The customer these identities belong to (module docstring), created when new and `create`.
    Flushes, does not commit: the caller commits with what it stores (an order, a ticket). Returns
    None when no identity could be read, or nobody holds one and `create` is off."""
    readable: list[tuple[tuple[str, str], Claimed]] = []
    skipped: list[str] = []
    for item in claimed:
        try:
            key = normalise(item.kind, item.value, fold_plus=fold_plus)
        except InvalidIdentity as error:
            skipped.append(str(error))
            continue
        if key not in (k for k, _ in readable):
            readable.append((key, item))
    if not readable:
        return None
    holders = {key: await holder(session, *key) for key, _ in readable}
    chosen = next((customer_id for customer_id in holders.values() if customer_id is not None), None)
    resolution = Resolution(customer_id=0, skipped=skipped)
    if chosen is None:
        if not create:
            return None
        domain = next((email_domain(value) for (kind, value), _ in readable if kind == "email"), None)
        organization_id = await session.scalar(
            select(OrganizationDomain.organization_id).where(OrganizationDomain.domain == domain)) if domain else None
        customer = Customer(name=(name or "").strip() or None, organization_id=organization_id)
        session.add(customer)
        await session.flush()
        chosen, resolution.created = customer.id, True
    elif name and name.strip():
        customer = await session.get(Customer, chosen)
        if not customer.name:
            customer.name = name.strip()
    resolution.customer_id = chosen
    for key, item in readable:
        current = holders[key]
        if current is None:
            session.add(CustomerIdentity(customer_id=chosen, kind=key[0], value=key[1],
                                         display_name=item.display_name, verified=item.verified))
            resolution.added.append(key)
        elif current != chosen:
            conflict = IdentityConflict(kind=key[0], value=key[1], holder_id=current, claimant_id=chosen,
                                        source=source)
            session.add(conflict)
            await session.flush()
            resolution.conflicts.append(conflict.id)
        elif item.verified:
            identity = await session.scalar(select(CustomerIdentity).where(
                CustomerIdentity.kind == key[0], CustomerIdentity.value == key[1]))
            identity.verified = True
    await session.flush()
    return resolution
