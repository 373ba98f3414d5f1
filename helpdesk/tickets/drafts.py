"""Drafts: the reply or note an agent is writing on a ticket, one per ticket and agent.

Kept on the server, so a reload or another device finds it. Saving replaces it whole (the last
save wins, from whichever device), an empty body removes it, and sending the reply or note ends
it in the same transaction as the message (the reply route calls `discard(..., commit=False)`).
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Draft, utcnow

MAX_CHARS = 100_000
MODES = ("reply", "note")


class DraftError(ValueError):
    """A draft that cannot be kept, in words the agent can act on."""


def _upsert(insert):
    # INSERT … ON CONFLICT DO UPDATE: two devices saving at once both succeed (the later one wins)
    # instead of one meeting the unique (ticket_id, agent_id) constraint
    statement = insert(Draft)
    return statement.on_conflict_do_update(
        index_elements=["ticket_id", "agent_id"],
        set_={"body": statement.excluded.body, "mode": statement.excluded.mode,
              "updated_at": statement.excluded.updated_at},
    )


_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


async def load(session: AsyncSession, ticket_id: int, agent_id: int) -> Draft | None:
    return await session.scalar(select(Draft).where(Draft.ticket_id == ticket_id, Draft.agent_id == agent_id))


async def save(session: AsyncSession, ticket_id: int, agent_id: int, *, body: str, mode: str) -> Draft | None:
    """Keep what the agent has written (committed); an empty body discards the draft.
    Returns the draft as saved, or None when there is none now."""
    if mode not in MODES:
        raise DraftError("a draft is a reply or a note")
    if len(body) > MAX_CHARS:
        raise DraftError(f"a draft can be at most {MAX_CHARS:,} characters; this one has {len(body):,}")
    if not body.strip():
        await discard(session, ticket_id, agent_id)
        return None
    draft = Draft(ticket_id=ticket_id, agent_id=agent_id, mode=mode, body=body, updated_at=utcnow())
    await session.execute(_UPSERT[session.get_bind().dialect.name],
                          {"ticket_id": ticket_id, "agent_id": agent_id, "mode": mode, "body": body,
                           "updated_at": draft.updated_at})
    await session.commit()
    return draft


async def discard(session: AsyncSession, ticket_id: int, agent_id: int, *, commit: bool = True) -> None:
    """Remove the agent's draft on the ticket; `commit=False` leaves it to the caller's COMMIT."""
    await session.execute(delete(Draft).where(Draft.ticket_id == ticket_id, Draft.agent_id == agent_id))
    if commit:
        await session.commit()


async def tickets_with_drafts(session: AsyncSession, agent_id: int, ticket_ids: Iterable[int]) -> set[int]:
    """Which of these tickets the agent has a draft on (one query on the drafts' agent index)."""
    ids = list(ticket_ids)
    if not ids:
        return set()
    return set(await session.scalars(select(Draft.ticket_id).where(Draft.agent_id == agent_id,
                                                                   Draft.ticket_id.in_(ids))))
