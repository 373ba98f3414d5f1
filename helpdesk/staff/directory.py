"""Agents and teams as pages need them: read once per unit of work, however many panes ask.

A console page asks for them from the conversation, the queue list, the queue nav and the
filter selects; each used to be its own query. They are kept in `session.info` until the
session's transaction ends, so a change committed by this session is seen by its next read.
"""
from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from helpdesk.models import Agent, Team

_AGENTS = "helpdesk.staff.directory.agents"
_TEAMS = "helpdesk.staff.directory.teams"


async def agents(session: AsyncSession) -> list[Agent]:
    """Every agent, active or not, by name."""
    found = session.info.get(_AGENTS)
    if found is None:
        found = session.info[_AGENTS] = list(await session.scalars(select(Agent).order_by(Agent.name)))
    return found


async def teams(session: AsyncSession) -> list[Team]:
    """Every team, by name."""
    found = session.info.get(_TEAMS)
    if found is None:
        found = session.info[_TEAMS] = list(await session.scalars(select(Team).order_by(Team.name)))
    return found


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, _transaction) -> None:
    session.info.pop(_AGENTS, None)
    session.info.pop(_TEAMS, None)
