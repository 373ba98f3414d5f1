"""Agents: creation and sign-in checks."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import ROLES, Agent, Team, utcnow
from helpdesk.staff.passwords import check_password, hash_password, needs_rehash


class AgentError(ValueError):
    """Bad input for an agent or team: the message says why, `field` which form field it is about."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


async def create_agent(session: AsyncSession, *, email: str, name: str, role: str, password: str,
                       team: str | None = None, team_id: int | None = None) -> Agent:
    """A new agent, in the team named `team` (made if missing) or the existing team `team_id`."""
    email = email.strip().lower()
    if role not in ROLES:
        raise AgentError(f"role must be one of {', '.join(ROLES)}, not {role!r}", field="role")
    if "@" not in email:
        raise AgentError(f"not an email address: {email!r}", field="email")
    if len(password) < 8:
        raise AgentError("password must have at least 8 characters", field="password")
    if await session.scalar(select(Agent.id).where(Agent.email == email)):
        raise AgentError(f"an agent with email {email} already exists", field="email")
    if team_id is not None and await session.get(Team, team_id) is None:
        raise AgentError("there is no such team", field="team_id")
    agent = Agent(email=email, name=name.strip() or email, role=role, password_hash=hash_password(password),
                  team_id=team_id)
    if team:
        agent.team_id = await ensure_team(session, team)
    session.add(agent)
    await session.commit()
    return agent


async def ensure_team(session: AsyncSession, name: str) -> int:
    team_id = await session.scalar(select(Team.id).where(Team.name == name))
    if team_id is None:
        team = Team(name=name)
        session.add(team)
        await session.flush()
        team_id = team.id
    return team_id


async def authenticate(session: AsyncSession, email: str, password: str) -> Agent | None:
    agent = await session.scalar(select(Agent).where(func.lower(Agent.email) == email.strip().lower()))
    known = agent is not None and agent.active
    if not await check_password(agent.password_hash if known else None, password) or not known:
        return None
    if needs_rehash(agent.password_hash):
        agent.password_hash = await asyncio.to_thread(hash_password, password)
    agent.last_login_at = utcnow()
    await session.commit()
    return agent


async def update_agent(session: AsyncSession, agent_id: int, *, role: str | None = None, team_id: int | None | str = None,
                       active: bool | None = None, acting_agent_id: int | None = None) -> Agent:
    """Change an agent's role, team ("none" for no team) or active flag. Nobody can demote or
    deactivate themselves, so a console never ends up without an admin by accident. Everything is
    checked before anything changes: a refused change leaves the agent as it was."""
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise AgentError("there is no such agent")
    if role is not None:
        if role not in ROLES:
            raise AgentError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if agent_id == acting_agent_id and role != agent.role:
            raise AgentError("you cannot change your own role")
    if team_id not in (None, "none") and await session.get(Team, int(team_id)) is None:
        raise AgentError("there is no such team")
    if active is False and agent_id == acting_agent_id:
        raise AgentError("you cannot deactivate yourself")
    if role is not None:
        agent.role = role
    if team_id is not None:
        agent.team_id = None if team_id == "none" else int(team_id)
    if active is not None:
        agent.active = active
    await session.commit()
    return agent


async def create_team(session: AsyncSession, name: str, *, lead_id: int | None = None) -> Team:
    name = name.strip()
    if not name:
        raise AgentError("give the team a name", field="name")
    if await session.scalar(select(Team.id).where(Team.name == name)):
        raise AgentError(f"a team called {name} exists already", field="name")
    team = Team(name=name[:100], lead_id=lead_id)
    session.add(team)
    await session.commit()
    return team


async def set_team_lead(session: AsyncSession, team_id: int, lead_id: int | None) -> Team:
    team = await session.get(Team, team_id)
    if team is None:
        raise AgentError("there is no such team")
    if lead_id is not None and await session.get(Agent, lead_id) is None:
        raise AgentError("there is no such agent")
    team.lead_id = lead_id
    await session.commit()
    return team
