"""Identity conflicts an agent decides: an identity one source claimed for a customer while another
holds it (flagged by `resolution.py`). "Merge them" goes to the side-by-side merge; "Keep apart"
resolves the conflict and stops the pair being suggested as duplicates."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from helpdesk.customers import duplicates
from helpdesk.models import Customer, IdentityConflict, utcnow

LIMIT = 200


class ConflictError(LookupError):
    """A conflict that is gone or already decided."""


@dataclass(frozen=True)
class OpenConflict:
    id: int
    kind: str
    value: str
    source: str
    created_at: datetime
    holder: duplicates.CustomerCard
    claimant: duplicates.CustomerCard


def _survivor(customer):
    """A merge flattens tombstone chains (records.merge_customers), so one hop reaches the survivor."""
    return func.coalesce(customer.merged_into_id, customer.id)


async def open_conflicts(session: AsyncSession, *, limit: int = LIMIT) -> list[OpenConflict]:
    """Undecided conflicts, newest first, between customers as they are today (after merges); a
    conflict whose two customers were merged since is no longer one and is left out."""
    holder, claimant = aliased(Customer), aliased(Customer)
    rows = (await session.execute(
        select(IdentityConflict, _survivor(holder), _survivor(claimant))
        .join(holder, holder.id == IdentityConflict.holder_id)
        .join(claimant, claimant.id == IdentityConflict.claimant_id)
        .where(IdentityConflict.resolved_at.is_(None), _survivor(holder) != _survivor(claimant))
        .order_by(IdentityConflict.created_at.desc(), IdentityConflict.id.desc()).limit(limit)
    )).all()
    cards = await duplicates.customer_cards(session, {i for _, h, c in rows for i in (h, c)})
    return [OpenConflict(row.id, row.kind, row.value, row.source, row.created_at, cards[h], cards[c])
            for row, h, c in rows]


async def keep_apart(session: AsyncSession, conflict_id: int, *, agent_id: int | None) -> IdentityConflict:
    """The two are different people: the identity stays with its holder, and the pair is not suggested again."""
    conflict = await session.get(IdentityConflict, conflict_id)
    if conflict is None or conflict.resolved_at is not None:
        raise ConflictError("this conflict was decided already")
    conflict.resolved_at, conflict.resolved_by_id = utcnow(), agent_id
    await duplicates.dismiss(session, conflict.holder_id, conflict.claimant_id, agent_id=agent_id)  # commits
    return conflict


async def resolve_between(session: AsyncSession, customer_id: int, other_id: int, *, agent_id: int | None) -> None:
    """Mark the conflicts between two customers decided (they were merged); the caller commits."""
    await session.execute(
        update(IdentityConflict)
        .where(IdentityConflict.resolved_at.is_(None),
               or_(and_(IdentityConflict.holder_id == customer_id, IdentityConflict.claimant_id == other_id),
                   and_(IdentityConflict.holder_id == other_id, IdentityConflict.claimant_id == customer_id)))
        .values(resolved_at=utcnow(), resolved_by_id=agent_id)
    )
