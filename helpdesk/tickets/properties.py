"""Saving a ticket's properties from its form: what the agent changed, never over another agent's change.

The form carries the values it showed (`Seen`). A property is the agent's change when the value
posted differs from the one shown; when the ticket's value is no longer the one shown, another agent
changed it meanwhile, so that property is not saved and comes back as a `Conflict` the agent can
apply anyway. Changes to other properties are saved: they do not conflict. Tags are a set: what the
agent added and removed is applied to the tags as they are now, so tags never conflict.
An Undo is an ordinary save of the previous values (checked the same way) marked in the history.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent, Ticket
from helpdesk.staff import directory as staff
from helpdesk.tickets import actions, history

FIELDS = ("assignee_id", "team_id", "status", "priority")
_MISSING = object()


@dataclass(frozen=True)
class Seen:
    """The values the form showed; a property left out (None here: not sent) is not checked."""

    values: dict[str, Any] = field(default_factory=dict)  # assignee_id/team_id: id or None; status, priority
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Conflict:
    """A property another agent changed since the form showed it: the agent's value was not saved."""

    field: str
    wanted: Any  # the agent's value
    current: Any  # the ticket's value now
    wanted_name: str
    current_name: str
    who: str | None  # who changed it last, when the history says
    at: datetime | None

    @property
    def label(self) -> str:
        return history.LABELS[self.field]

    @property
    def wanted_value(self) -> str:
        return form_value(self.wanted)

    @property
    def current_value(self) -> str:
        return form_value(self.current)


@dataclass(frozen=True)
class Saved:
    done: dict  # {property: [old, new], "tags": {"added": [...], "removed": [...]}}
    conflicts: list[Conflict]

    def undo(self, tags_now: list[str]) -> list[tuple[str, str]]:
        """The form fields that put back what this save changed: each property's old value, posted
        against its new one as the value shown (so an Undo does not overwrite a later change)."""
        fields = []
        for name in FIELDS:
            if name in self.done:
                old, new = self.done[name]
                fields += [(name, form_value(old)), (f"shown_{name}", form_value(new))]
        if "tags" in self.done:
            added, removed = set(self.done["tags"]["added"]), set(self.done["tags"]["removed"])
            before = sorted((set(tags_now) - added) | removed)
            fields += [("tags", ", ".join(before)), ("shown_tags", ", ".join(tags_now))]
        return fields


def form_value(value: Any) -> str:
    """A property's value as the form's select posts it ("none" for no assignee or team)."""
    return "none" if value is None else str(value)


def _wanted(changes: actions.Changes) -> dict[str, Any]:
    wanted = {}
    for name in FIELDS:
        value = getattr(changes, name)
        if value is not None:
            wanted[name] = None if value == "none" else (int(value) if name in ("assignee_id", "team_id") else value)
    return wanted


async def save(session: AsyncSession, ticket: Ticket, changes: actions.Changes, *, seen: Seen, agent: Agent,
               undo: bool = False) -> Saved:
    """Save what the agent changed (see the module's docstring); raises TicketError for a bad value."""
    # claim the row (a write lock until COMMIT, on both databases), then read the values now: a change in
    # progress is waited for and seen, and two saves at once cannot both pass the check
    await session.execute(update(Ticket).where(Ticket.id == ticket.id).values(updated_at=Ticket.updated_at)
                          .execution_options(synchronize_session=False))
    await session.refresh(ticket)
    wanted = _wanted(changes)
    skip, clashes = {}, {}
    for name, value in wanted.items():
        shown = seen.values.get(name, _MISSING)
        current = getattr(ticket, name)
        if shown is _MISSING:
            continue  # not checked: a form that does not say what it showed
        if value == shown or value == current:
            skip[name] = None  # not the agent's change, or already so
        elif current != shown:
            skip[name] = None
            clashes[name] = (value, current)
    apply = replace(changes, **skip)
    if seen.tags is not None and changes.tags is not None:
        apply = replace(apply, tags=None, add_tags=tuple(t for t in changes.tags if t not in seen.tags),
                        remove_tags=tuple(t for t in seen.tags if t not in changes.tags))
    done = await actions.update_ticket(session, ticket, apply, agent=agent, undo=undo) if _any(apply) else {}
    conflicts = []
    if clashes:
        agents = {a.id: a for a in await staff.agents(session)}
        teams = {t.id: t.name for t in await staff.teams(session)}
        last = await history.last_changes(session, ticket.id, clashes, agents)
        for name, (value, current) in clashes.items():
            change = last.get(name)
            conflicts.append(Conflict(name, value, current, history.value_name(name, value, agents, teams),
                                      history.value_name(name, current, agents, teams),
                                      change.who if change else None, change.at if change else None))
    return Saved(done, conflicts)


def _any(changes: actions.Changes) -> bool:
    return any(getattr(changes, name) is not None for name in FIELDS) or changes.tags is not None \
        or bool(changes.add_tags or changes.remove_tags)
