"""What agents do to tickets: note, assign, status, priority, tags, merge, split, bulk changes.

Replies go through `helpdesk.tickets.outbox.queue_reply` (the transactional outbox); everything here
commits, writes an audit event and publishes a live event, so open consoles follow along.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from helpdesk import live

from helpdesk.integrations import webhooks
from helpdesk.tickets import history, outbox

from helpdesk.sla import clock as sla_clock
from helpdesk.sla import events as sla_events
from helpdesk.sla import policies as sla_policies

from helpdesk.staff import directory as staff
from helpdesk.files import store_blob
from helpdesk.models import (
    PRIORITIES,
    STATUSES,
    Agent,
    Attachment,
    Message,
    Team,
    Ticket,
    TicketParticipant,
    TicketTag,
    utcnow,
)

TAG_RE = re.compile(r"^[\w][\w\-.:/]{0,49}$")


class TicketError(ValueError):
    """A change an agent asked for that cannot be made; the message says why, for the form."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class TicketView:
    """Everything the ticket page shows about the ticket itself, loaded in a fixed number of queries."""

    ticket: Ticket
    messages: list[Message]
    tags: list[str]
    agents: dict[int, Agent]
    teams: list[Team]

    @property
    def assignee(self) -> Agent | None:
        return self.agents.get(self.ticket.assignee_id) if self.ticket.assignee_id else None


async def load_ticket_view(session: AsyncSession, ticket_id: int) -> TicketView | None:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    messages = list(
        await session.scalars(
            select(Message).where(Message.ticket_id == ticket_id).order_by(Message.created_at, Message.id)
            .options(selectinload(Message.attachments))
        )
    )
    tags = list(await session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id).order_by(TicketTag.tag)))
    agents = {a.id: a for a in await staff.agents(session)}
    teams = await staff.teams(session)
    return TicketView(ticket, messages, tags, agents, teams)


async def ticket_by_id(session: AsyncSession, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def load_message(session: AsyncSession, message_id: int) -> Message | None:
    """The message with its attachments, as the database has it now (not as this session last saw it)."""
    return await session.scalar(
        select(Message).where(Message.id == message_id).options(selectinload(Message.attachments))
        .execution_options(populate_existing=True)
    )


async def load_attachment(session: AsyncSession, attachment_id: int) -> Attachment | None:
    return await session.get(Attachment, attachment_id)


def _changed(ticket_ids: Iterable[int], event: str = "ticket.updated") -> None:
    ids = list(ticket_ids)
    for ticket_id in ids:
        live.publish(live.ticket_channel(ticket_id), {"event": event, "ticket_id": ticket_id})
    if ids:
        live.publish(live.queue_channel("all"), {"event": event, "ticket_ids": ids})


async def add_note(session: AsyncSession, ticket: Ticket, *, agent: Agent, text: str,
                   attachments: list | tuple = (), settings=None) -> Message:
    """An internal note: stored on the timeline, never sent, does not touch the SLA clock."""
    if not text.strip() and not attachments:
        raise TicketError("write a note before saving it", field="body")
    now = utcnow()
    note = Message(ticket_id=ticket.id, direction="note", channel=ticket.channel, agent_id=agent.id, sender_name=agent.name,
                   text=text, created_at=now, updated_at=now)
    for attachment in attachments:
        digest = store_blob(settings.attachments_dir, attachment.data)
        note.attachments.append(Attachment(sha256=digest, size=len(attachment.data),
                                           content_type=attachment.content_type, filename=attachment.filename))
    session.add(note)
    ticket.updated_at = now
    await session.commit()
    live.publish(live.ticket_channel(ticket.id), {"event": "message.created", "message_id": note.id})
    return note


@dataclass(frozen=True)
class Changes:
    """A partial update of a ticket's properties; None leaves a property as it is."""

    assignee_id: int | None | str = None  # an id, or "none" to unassign
    team_id: int | None | str = None
    status: str | None = None
    priority: str | None = None
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    tags: tuple[str, ...] | None = None  # replace all


def parse_tags(raw: str) -> tuple[str, ...]:
    """Comma-separated tags, lower-cased. A tag is one word (letters, digits, - . : /, up to 50):
    "VIP customer" is refused with a suggestion rather than quietly split into two tags."""
    tags = []
    for part in (raw or "").split(","):
        tag = part.strip().lower()
        if not tag:
            continue
        if re.search(r"\s", tag):
            suggestion = re.sub(r"\s+", "-", tag)
            raise TicketError(f"{_shown(tag)} has a space: tags are single words separated by commas "
                              f"(write {_shown(suggestion)})", field="tags")
        if not TAG_RE.match(tag):
            raise TicketError(f"{_shown(tag)} is not a tag: use letters, digits, - . : / (up to 50)", field="tags")
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _shown(tag: str) -> str:
    """A tag quoted in an error message, cut short so a long one cannot stretch the form."""
    return repr(tag if len(tag) <= 30 else tag[:29] + "…")


async def _validate(session: AsyncSession, changes: Changes) -> None:
    if changes.status is not None and changes.status not in STATUSES:
        raise TicketError(f"unknown status {changes.status!r}", field="status")
    if changes.priority is not None and changes.priority not in PRIORITIES:
        raise TicketError(f"unknown priority {changes.priority!r}", field="priority")
    if changes.assignee_id not in (None, "none"):
        active = await session.scalar(select(Agent.active).where(Agent.id == changes.assignee_id))
        if not active:
            raise TicketError("that agent does not exist or is deactivated", field="assignee_id")
    if changes.team_id not in (None, "none"):
        if await session.scalar(select(Team.id).where(Team.id == changes.team_id)) is None:
            raise TicketError("that team does not exist", field="team_id")


def _apply(ticket: Ticket, changes: Changes, now: datetime, rules: list, stamps: list) -> dict:
    """Set what differs; returns {property: [old, new]} (the history keeps both). The SLA stamps a
    change of status makes are added to `stamps`."""
    done = {}
    if changes.assignee_id is not None:
        value = None if changes.assignee_id == "none" else int(changes.assignee_id)
        if value != ticket.assignee_id:
            done["assignee_id"] = [ticket.assignee_id, value]
            ticket.assignee_id = value
    if changes.team_id is not None:
        value = None if changes.team_id == "none" else int(changes.team_id)
        if value != ticket.team_id:
            done["team_id"] = [ticket.team_id, value]
            ticket.team_id = value
    if changes.status is not None and changes.status != ticket.status:
        if changes.status in ("new", "open", "pending", "on_hold"):
            ticket.solved_at = None
            ticket.closed_at = None
        done["status"] = [ticket.status, changes.status]
        stamps += outbox.set_status(ticket, changes.status, now, rules=rules)
    if changes.priority is not None and changes.priority != ticket.priority:
        done["priority"] = [ticket.priority, changes.priority]
        ticket.priority = changes.priority
    if done:
        ticket.updated_at = now
    return done


async def _set_tags(session: AsyncSession, ticket_ids: list[int], changes: Changes) -> dict[int, dict]:
    """Returns {ticket id: {"added": [...], "removed": [...]}} for the tickets whose tags changed."""
    if changes.tags is None and not changes.add_tags and not changes.remove_tags:
        return {}
    existing: dict[int, set[str]] = {i: set() for i in ticket_ids}
    for ticket_id, tag in await session.execute(
        select(TicketTag.ticket_id, TicketTag.tag).where(TicketTag.ticket_id.in_(ticket_ids))
    ):
        existing[ticket_id].add(tag)
    changed = {}
    for ticket_id, tags in existing.items():
        wanted = set(changes.tags) if changes.tags is not None else set(tags)
        wanted = (wanted | set(changes.add_tags)) - set(changes.remove_tags)
        for tag in wanted - tags:
            session.add(TicketTag(ticket_id=ticket_id, tag=tag))
        if tags - wanted:
            await session.execute(
                delete(TicketTag).where(TicketTag.ticket_id == ticket_id, TicketTag.tag.in_(tags - wanted))
            )
        if wanted != tags:
            changed[ticket_id] = {"added": sorted(wanted - tags), "removed": sorted(tags - wanted)}
    return changed


async def update_ticket(session: AsyncSession, ticket: Ticket, changes: Changes, *, agent: Agent,
                        undo: bool = False) -> dict:
    """Change one ticket's properties; returns what changed ({property: [old, new], "tags": {...}})."""
    return (await bulk_update(session, [ticket.id], changes, agent=agent, undo=undo)).get(ticket.id, {})


async def bulk_update(session: AsyncSession, ticket_ids: Iterable[int], changes: Changes, *,
                      agent: Agent, undo: bool = False) -> dict[int, dict]:
    """Apply the same change to many tickets in one transaction (the queue's bulk actions); each
    ticket's history gets what changed on it, old and new values (`undo`: marked as an Undo)."""
    ids = sorted({int(i) for i in ticket_ids})
    if not ids:
        raise TicketError("select at least one ticket", field="ticket_ids")
    await _validate(session, changes)
    tickets = list(await session.scalars(select(Ticket).where(Ticket.id.in_(ids), Ticket.merged_into_id.is_(None))))
    now = utcnow()
    rules = await sla_policies.load_policies(session)
    stamps: list[sla_events.Stamp] = []
    done = {ticket.id: _apply(ticket, changes, now, rules, stamps) for ticket in tickets}
    tagged = await _set_tags(session, [t.id for t in tickets], changes)
    for ticket in tickets:
        if ticket.id in tagged:
            done[ticket.id]["tags"] = tagged[ticket.id]
            ticket.updated_at = now
    for ticket_id, what in done.items():
        if what:
            history.record(session, agent, "ticket.update", ticket_id, {**what, "undo": True} if undo else what, at=now)
    for ticket in tickets:
        if {"priority", "team_id", "tags"} & set(done[ticket.id]):
            # due times as if it had been so all along: the history replayed, this change (and its tags) included
            await sla_policies.recompute(session, ticket, rules=rules)
    await sla_events.record(session, stamps)
    await webhooks.emit(session, "ticket.updated", *({"ticket_id": i, "changes": w} for i, w in done.items() if w))
    await session.commit()
    _changed([ticket_id for ticket_id, what in done.items() if what])
    return done


async def merge_tickets(session: AsyncSession, source: Ticket, target_number: int, *, agent: Agent) -> Ticket:
    """Merge `source` into the ticket numbered `target_number`: messages, tags and Cc's move;
    the source is closed and points at the survivor, so its links and threading still resolve."""
    target = await session.scalar(select(Ticket).where(Ticket.number == target_number))
    if target is None:
        raise TicketError(f"there is no ticket #{target_number}", field="target")
    seen = set()
    while target.merged_into_id is not None and target.id not in seen:
        seen.add(target.id)
        target = await session.get(Ticket, target.merged_into_id)
    if target.id == source.id:
        raise TicketError("a ticket cannot be merged into itself", field="target")
    if source.merged_into_id is not None:
        raise TicketError("this ticket is already merged", field="target")
    now = utcnow()
    await session.execute(update(Message).where(Message.ticket_id == source.id).values(ticket_id=target.id))
    target_tags = set(await session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == target.id)))
    for tag in await session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == source.id)):
        if tag not in target_tags:
            session.add(TicketTag(ticket_id=target.id, tag=tag))
    target_people = set(
        (await session.execute(select(TicketParticipant.kind, TicketParticipant.value)
                               .where(TicketParticipant.ticket_id == target.id))).all()
    )
    for participant in await session.scalars(select(TicketParticipant).where(TicketParticipant.ticket_id == source.id)):
        if (participant.kind, participant.value) not in target_people:
            session.add(TicketParticipant(ticket_id=target.id, kind=participant.kind, value=participant.value,
                                          display_name=participant.display_name))
    source.merged_into_id = target.id
    source.status = "closed"
    source.closed_at = now
    source.first_response_due_at = source.next_response_due_at = source.resolution_due_at = None
    source.updated_at = now
    target.updated_at = now
    for stamp in ("last_inbound_at", "last_outbound_at"):
        values = [v for v in (getattr(source, stamp), getattr(target, stamp)) if v]
        setattr(target, stamp, max(values) if values else None)
    history.record(session, agent, "ticket.merge", source.id, {"into": target.id, "into_number": target.number}, at=now)
    history.record(session, agent, "ticket.merged_in", target.id, {"from": source.id, "from_number": source.number},
                   at=now)
    await session.commit()
    _changed([source.id, target.id])
    return target


async def split_message(session: AsyncSession, ticket: Ticket, message_id: int, *, agent: Agent) -> Ticket:
    """Move one customer message out into a new ticket of the same customer and channel."""
    message = await session.get(Message, message_id)
    if message is None or message.ticket_id != ticket.id:
        raise TicketError("that message is not part of this ticket", field="message")
    if message.direction != "inbound":
        raise TicketError("only customer messages can be split into a new ticket", field="message")
    remaining = await session.scalar(
        select(func.count()).select_from(Message).where(Message.ticket_id == ticket.id, Message.direction == "inbound")
    )
    if remaining <= 1:
        raise TicketError("this is the ticket's only customer message; nothing would be left", field="message")
    now = utcnow()
    new = Ticket(subject=(message.subject or ticket.subject)[:500], status="open", priority=ticket.priority,
                 channel=ticket.channel, account=ticket.account, customer_id=ticket.customer_id,
                 organization_id=ticket.organization_id, team_id=ticket.team_id, assignee_id=agent.id,
                 last_inbound_at=message.created_at, created_at=now, updated_at=now)
    session.add(new)
    await session.flush()
    new.number = new.id
    if not message.auto_generated:
        rules = await sla_policies.load_policies(session)
        await sla_events.record(session, sla_policies.opened(rules, new, message.created_at))
    message.ticket_id = new.id
    ticket.updated_at = now
    history.record(session, agent, "ticket.split", ticket.id,
                   {"message_id": message_id, "new_ticket_id": new.id, "new_number": new.number}, at=now)
    history.record(session, agent, "ticket.split_from", new.id, {"from": ticket.id, "from_number": ticket.number},
                   at=now)
    await session.commit()
    _changed([ticket.id])
    _changed([new.id], "ticket.created")
    return new


@dataclass(frozen=True)
class Clock:
    """One SLA clock of a ticket as the browser counts it down."""

    name: str  # first_response | next_response | resolution
    label: str
    due_at: datetime | None
    state: str  # running | paused | met | breached (running past its due time: overdue)
    paused_remaining_seconds: int | None = None  # business time left (or overdue by) when it paused, >= 0
    text: str = ""  # "2h 05m left", "overdue by 1d 2h", "paused, 3h left", "paused, overdue by 1d 2h", "met"

    @property
    def overdue(self) -> bool:
        return self.state == "breached" or self.text.startswith("paused, overdue")


async def sla_clocks(session: AsyncSession, ticket: Ticket, now: datetime | None = None) -> list[Clock]:
    """The ticket's clocks: running (with a due time), paused (pending, on hold), met, or overdue,
    read in the business time of its policy's calendar (helpdesk/sla/clock.py)."""
    now = now or utcnow()
    calendar = sla_policies.calendar_for(await sla_policies.load_policies(session), ticket.sla_policy_id)
    paused = ticket.sla_paused_at
    solved = ticket.status in ("solved", "closed")
    clocks = []
    for name, label, due, met in (
        ("first_response", "First response", ticket.first_response_due_at, ticket.first_responded_at is not None),
        ("next_response", "Next response", ticket.next_response_due_at, False),
        ("resolution", "Resolution", ticket.resolution_due_at, solved),
    ):
        if due is None:
            if met and (name != "resolution" or ticket.sla_policy_id is not None):
                clocks.append(Clock(name, label, None, "met", text="met"))
            continue
        if met:
            clocks.append(Clock(name, label, due, "met", text="met"))
            continue
        reading = sla_clock.read(due, now, calendar, paused_at=paused if name != "first_response" else None)
        if reading.state == "paused":
            clocks.append(Clock(name, label, due, "paused", int(reading.minutes * 60), reading.text))
        else:
            clocks.append(Clock(name, label, due, "breached" if reading.overdue else "running", text=reading.text))
    return clocks
