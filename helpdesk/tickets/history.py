"""A ticket's history: who changed what and when, written with each change and shown in the
conversation as one-line events between the messages.

Events are `AuditEvent` rows on ("ticket", ticket id) whose `data` holds all a line needs, so a
ticket's history is one indexed query (`ix_audit_events_object`) named with the agents and teams the
page has loaded anyway:
- `ticket.update`: `{"status": [old, new], "priority": [...], "assignee_id": [...], "team_id": [...],
  "tags": {"added": [...], "removed": [...]}}`, plus `"undo": true` for an Undo; rows written before
  December 2026 hold only the new value (`{"status": "pending"}`).
- `ticket.merge` on the merged ticket `{"into": id, "into_number": n}`, `ticket.merged_in` on the
  survivor `{"from": id, "from_number": n}`; `ticket.split` `{"message_id", "new_ticket_id",
  "new_number"}` and `ticket.split_from` on the new ticket `{"from": id, "from_number": n}`.
- `ticket.snoozed` `{"until": iso}`, `ticket.unsnoozed` (an agent ended it), `ticket.woken` (its time
  came), written by helpdesk/tickets/snooze.py.

The SLA clocks' events (`SlaEvent`: started, paused, resumed, met, warned, breached, restarted;
helpdesk/sla/events.py) join the same timeline as compact lines by "SLA" (`sla_entries`), read with
one query on their (ticket_id, target, kind, cycle) index.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent, AuditEvent, SlaEvent, Team, utcnow
from helpdesk.sla.clock import format_span

ACTIONS = ("ticket.update", "ticket.merge", "ticket.merged_in", "ticket.split", "ticket.split_from",
           "ticket.snoozed", "ticket.unsnoozed", "ticket.woken")
PROPERTIES = ("status", "priority", "assignee_id", "team_id")
LIMIT = 500  # a ticket shows its newest 500 events: a page stays fast whatever a robot did to it


def record(session: AsyncSession, agent: Agent | None, action: str, ticket_id: int, data: dict | None = None,
           *, at: datetime | None = None) -> None:
    """Add one event to the session; it is committed with the change it describes."""
    session.add(AuditEvent(agent_id=agent.id if agent else None, action=action, object_type="ticket",
                           object_id=ticket_id, data=data, at=at or utcnow()))


async def events(session: AsyncSession, ticket_id: int, *, limit: int = LIMIT) -> list[AuditEvent]:
    """The ticket's events, oldest first: one query on the (object_type, object_id, id) index."""
    newest = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "ticket", AuditEvent.object_id == ticket_id, AuditEvent.action.in_(ACTIONS))
        .order_by(AuditEvent.id.desc()).limit(limit)
    )
    return list(reversed(list(newest)))


@dataclass(frozen=True)
class LastChange:
    """Who last set a property and when, for "Carlos changed status to solved at 14:03"."""

    who: str | None
    at: datetime


async def last_changes(session: AsyncSession, ticket_id: int, fields: Iterable[str],
                       agents: dict[int, Agent]) -> dict[str, LastChange]:
    """The newest recorded change of each of `fields` (asked only when a save ran into a conflict)."""
    wanted, found = set(fields), {}
    for event in reversed(await events(session, ticket_id, limit=50)):
        if event.action != "ticket.update" or not event.data:
            continue
        for name in wanted & set(event.data) - set(found):
            agent = agents.get(event.agent_id) if event.agent_id else None
            found[name] = LastChange(agent.name if agent else None, event.at)
    return found


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a ticket's history in its conversation."""

    id: int | str  # an audit event's id; "sla-<id>" for an SLA event
    at: datetime
    action: str
    who: str
    text: Markup  # what happened, escaped: "changed status from <b>open</b> to <b>pending</b>"

    @property
    def kind(self) -> str:
        return "event"


def entries(events_: Sequence[AuditEvent], agents: dict[int, Agent], teams: Iterable[Team]) -> list[HistoryEntry]:
    team_names = {t.id: t.name for t in teams}
    out = []
    for event in events_:
        text = describe(event.action, event.data or {}, agents, team_names)
        if text:
            agent = agents.get(event.agent_id) if event.agent_id else None
            out.append(HistoryEntry(event.id, event.at, event.action, agent.name if agent else "Helpdesk", text))
    return out


SLA_TARGET_NAMES = {"first_response": "First response", "next_response": "Next response", "resolution": "Resolution"}


async def sla_events(session: AsyncSession, ticket_id: int, *, limit: int = LIMIT) -> list[SlaEvent]:
    """The ticket's SLA events, oldest first (its newest `limit`): one query on the unique key's index."""
    newest = await session.scalars(select(SlaEvent).where(SlaEvent.ticket_id == ticket_id)
                                   .order_by(SlaEvent.at.desc(), SlaEvent.id.desc()).limit(limit))
    return list(reversed(list(newest)))


def sla_entries(events_: Sequence[SlaEvent]) -> list[HistoryEntry]:
    """The SLA events as history lines, by "SLA", in time order."""
    return [HistoryEntry(f"sla-{event.id}", event.at, f"sla.{event.kind}", "SLA", describe_sla(event))
            for event in sorted(events_, key=lambda e: (e.at, e.id))]


def _due(at: datetime | None) -> Markup:
    if at is None:
        return Markup("")
    return Markup(', due <time datetime="{}" data-local>{}</time>').format(at.isoformat(), at.strftime("%d %b %H:%M"))


def describe_sla(event: SlaEvent) -> Markup:
    """One compact line: "First response met in 1h 05m", "Resolution paused", "Next response breached"."""
    name = SLA_TARGET_NAMES.get(event.target, event.target)
    took = Markup(" in {}").format(format_span(event.business_minutes)) if event.business_minutes is not None else ""
    cycle = Markup(" ({})").format(event.cycle) if event.target == "next_response" and event.cycle > 1 else ""
    if event.kind == "started":
        return Markup("{}{} started{}").format(name, cycle, _due(event.due_at))
    if event.kind == "met":
        return Markup("{}{} met{}").format(name, cycle, took)
    if event.kind == "breached":
        return Markup('<span class="sla-breached-text">{}{} breached</span>{}').format(name, cycle, _due(event.due_at))
    if event.kind == "warned":
        return Markup("{}{}: the assignee was warned{}").format(name, cycle, _due(event.due_at))
    if event.kind == "restarted":
        return Markup("{} restarted: the reply that stopped it was not delivered{}").format(name, _due(event.due_at))
    if event.kind == "resumed":
        return Markup("{}{} resumed{}").format(name, cycle, _due(event.due_at))
    return Markup("{}{} {}").format(name, cycle, event.kind)


def interleave(messages: Iterable[Any], history: Iterable[HistoryEntry]) -> list[Any]:
    """Messages and events in time order (both arrive sorted); at the same instant the message first,
    so "Send and mark solved" reads as the reply, then the status change."""
    return list(heapq.merge(messages, sorted(history, key=lambda item: item.at), key=lambda item: item.at))


def value_name(name: str, value: Any, agents: dict[int, Agent], teams: dict[int, str]) -> str:
    """A property's value as an agent reads it: names, not ids."""
    if value is None:
        return {"assignee_id": "nobody", "team_id": "no team"}.get(name, "none")
    if name == "assignee_id":
        agent = agents.get(value)
        return agent.name if agent else f"agent {value}"
    if name == "team_id":
        return teams.get(value, f"team {value}")
    return str(value).replace("_", " ")


LABELS = {"status": "status", "priority": "priority", "assignee_id": "assignee", "team_id": "team"}


def _property(name: str, change: Any, agents: dict[int, Agent], teams: dict[int, str]) -> Markup:
    label = LABELS[name]
    if not isinstance(change, list):  # an event from before old values were kept
        return Markup("set {} to <b>{}</b>").format(label, value_name(name, change, agents, teams))
    old, new = (value_name(name, v, agents, teams) for v in change)
    if name == "assignee_id" and change[0] is None:
        return Markup("assigned it to <b>{}</b>").format(new)
    if name == "assignee_id" and change[1] is None:
        return Markup("unassigned <b>{}</b>").format(old)
    if name == "team_id" and change[0] is None:
        return Markup("set team to <b>{}</b>").format(new)
    return Markup("changed {} from <b>{}</b> to <b>{}</b>").format(label, old, new)


def _tags(change: dict) -> list[Markup]:
    parts = []
    for key, verb in (("added", "added"), ("removed", "removed")):
        tags = change.get(key) or []
        if tags:
            parts.append(Markup("{} tag{} {}").format(verb, "s" if len(tags) > 1 else "", Markup(" ").join(
                Markup('<span class="tag">{}</span>').format(t) for t in tags)))
    return parts


def _ticket_link(ticket_id: Any, number: Any) -> Markup:
    return Markup('<a href="/console/tickets/{}">#{}</a>').format(ticket_id, number or ticket_id)


def describe(action: str, data: dict, agents: dict[int, Agent], teams: dict[int, str]) -> Markup | None:
    """The line for one event, or None for an event with nothing to show."""
    if action == "ticket.update":
        parts = [_property(name, data[name], agents, teams) for name in PROPERTIES if name in data]
        if isinstance(data.get("tags"), dict):
            parts += _tags(data["tags"])
        if not parts:
            return None
        text = Markup(", ").join(parts)
        return text + Markup(" <span class=\"muted\">(undo)</span>") if data.get("undo") else text
    if action == "ticket.merge":
        return Markup("merged this ticket into {}").format(_ticket_link(data.get("into"), data.get("into_number")))
    if action == "ticket.merged_in":
        return Markup("merged {} into this ticket").format(_ticket_link(data.get("from"), data.get("from_number")))
    if action == "ticket.split":
        return Markup("split a message out into {}").format(
            _ticket_link(data.get("new_ticket_id"), data.get("new_number")))
    if action == "ticket.split_from":
        return Markup("split this ticket from {}").format(_ticket_link(data.get("from"), data.get("from_number")))
    if action == "ticket.snoozed":
        until = _parse(data.get("until"))
        if until is None:
            return Markup("snoozed the ticket")
        return Markup('snoozed the ticket until <time datetime="{}" data-local>{}</time>').format(
            data["until"], until.strftime("%d %b %H:%M"))
    if action == "ticket.unsnoozed":
        return Markup("ended the ticket's snooze")
    if action == "ticket.woken":
        return Markup("woke the ticket: its snooze ended")
    return None


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
