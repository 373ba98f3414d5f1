"""Finding a customer by what an agent remembers of them: part of a name, an email, a phone number.

The merge form's type-ahead: one query, at most a handful of rows, tombstones and erased
customers left out (they cannot take part in a merge)."""
from __future__ import annotations

import re

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.duplicates import CustomerCard, customer_cards, escape_like
from helpdesk.customers.identities import PHONE_KINDS
from helpdesk.models import Customer, CustomerIdentity

TYPE_AHEAD = 8
_PHONE_LIKE = re.compile(r"[\d\s()+./-]+")


async def find_customers(session: AsyncSession, query: str, *, excluding: int | None = None,
                         limit: int = TYPE_AHEAD) -> list[CustomerCard]:
    """Customers whose name contains the query, whose email starts with it, or whose phone
    number contains its digits (a national `0151 …` matches `+49151…`)."""
    query = query.strip()
    if len(query) < 2:
        return []
    ci = CustomerIdentity
    matches = [func.lower(Customer.name).like(f"%{escape_like(query.lower())}%", escape="\\")]
    matches.append(exists().where(ci.customer_id == Customer.id, ci.kind == "email",
                                  ci.value.like(f"{escape_like(query.lower())}%", escape="\\")))
    digits = re.sub(r"\D", "", query).lstrip("0")
    if _PHONE_LIKE.fullmatch(query) and len(digits) >= 4:
        matches.append(exists().where(ci.customer_id == Customer.id, ci.kind.in_(PHONE_KINDS),
                                      ci.value.like(f"%{digits}%")))
    statement = (select(Customer.id).where(or_(*matches), Customer.merged_into_id.is_(None),
                                           Customer.erased_at.is_(None))
                 .order_by(Customer.name, Customer.id).limit(limit))
    if excluding is not None:
        statement = statement.where(Customer.id != excluding)
    ids = list(await session.scalars(statement))
    cards = await customer_cards(session, set(ids))
    return [cards[i] for i in ids]
