"""Two customers side by side before a merge: what each holds and what would move."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.records import CustomerView, load_customer_view
from helpdesk.models import OPEN_STATUSES, Ticket


@dataclass
class MergeSide:
    view: CustomerView
    ticket_count: int
    open_ticket_count: int

    @property
    def customer(self):
        return self.view.customer


async def compare(session: AsyncSession, customer_id: int, other_id: int) -> list[MergeSide] | None:
    """Both customers as the merge confirmation shows them, or None when either cannot take part
    (unknown, merged away or erased)."""
    views = [await load_customer_view(session, i) for i in (customer_id, other_id)]
    if any(v is None or v.customer.merged_into_id is not None or v.customer.erased_at is not None for v in views):
        return None
    counts = {cid: (total, open_) for cid, total, open_ in await session.execute(
        select(Ticket.customer_id, func.count(), func.count().filter(Ticket.status.in_(OPEN_STATUSES)))
        .where(Ticket.customer_id.in_((customer_id, other_id)), Ticket.merged_into_id.is_(None))
        .group_by(Ticket.customer_id))}
    return [MergeSide(v, *counts.get(v.customer.id, (0, 0))) for v in views]
