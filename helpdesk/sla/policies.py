"""Which SLA policy a ticket falls under, and the clock rules: what each thing that happens to a
ticket does to its due times.

The rules are plain functions of (the policies, a ticket-like object, the moment) that set the
ticket's SLA columns and return the `Stamp`s to record (helpdesk/sla/events.py). Ingest, the ticket
actions, the outbox and `recompute` all call these same functions; `recompute` replays a ticket's
history through them, so a new priority, team, tags or an edited policy gives the due times the
ticket would have had all along.

- opened: the first matching policy (position order) starts first response and resolution.
- an agent's public reply (not a note, not an automatic reply) meets first response and the running
  next response; if it finally fails to deliver and no other answer stands, the clocks it stopped
  restart (a `restarted` stamp, shown in the history).
- a customer's message after an agent's answer starts next response (a new cycle); it also resumes a
  paused ticket.
- pending and on hold pause resolution and next response; back to new/open (a customer's message,
  an agent, a snooze ending) resumes them with the paused business time added (`clock.resume`).
  First response is not paused: a customer waits for it whatever the status says.
- solved (or closed) meets resolution and stops every clock (a solved ticket is never swept);
  reopening resumes resolution and next response with the time already used.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import AuditEvent, BusinessCalendar, Message, SlaPolicy, Ticket, TicketTag
from helpdesk.sla import clock
from helpdesk.sla.events import CURRENT, NEXT, SEQUENCE, Stamp, stamp

ACTIVE = ("new", "open")
PAUSED = ("pending", "on_hold")
STOPPED = ("solved", "closed")
OPEN_STATUSES = ACTIVE + PAUSED


@dataclass(frozen=True)
class PolicyRule:
    id: int
    match_priority: str | None
    match_channel: str | None
    match_organization_id: int | None
    match_team_id: int | None
    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    calendar: clock.Calendar | None
    match_tags: tuple[str, ...] = ()
    targets: dict = field(default_factory=dict)  # {"urgent": {"first_response": 30, ...}}
    warn_at_percent: int | None = None
    name: str = ""

    def matches(self, ticket, tags=()) -> bool:
        return (
            (self.match_priority is None or self.match_priority == ticket.priority)
            and (self.match_channel is None or self.match_channel == ticket.channel)
            and (self.match_organization_id is None or self.match_organization_id == ticket.organization_id)
            and (self.match_team_id is None or self.match_team_id == ticket.team_id)
            and (not self.match_tags or set(self.match_tags) <= set(tags))
        )

    def minutes(self, target: str, priority: str | None) -> int | None:
        """The target's minutes for a ticket of this priority: `targets` overrides the column."""
        per_priority = (self.targets or {}).get(priority) or {}
        if target in per_priority:
            return per_priority[target]
        return getattr(self, f"{target}_minutes")


def match(rules: list[PolicyRule], ticket, tags=()) -> PolicyRule | None:
    """The first policy in position order whose conditions the ticket meets."""
    return next((rule for rule in rules if rule.matches(ticket, tags)), None)


def rule_of(rules: list[PolicyRule], ticket) -> PolicyRule | None:
    policy_id = ticket.sla_policy_id
    return next((rule for rule in rules if rule.id == policy_id), None) if policy_id is not None else None


def calendar_for(rules: list[PolicyRule], policy_id: int | None) -> clock.Calendar | None:
    rule = next((r for r in rules if r.id == policy_id), None) if policy_id is not None else None
    return rule.calendar if rule else None


# Policies change rarely and are read for every new ticket: a short cache saves a query per ingest.
_CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, list[PolicyRule]]] = {}


def forget_cached_policies() -> None:
    _cache.clear()


async def load_policies(session: AsyncSession) -> list[PolicyRule]:
    """The active policies in the order they are tried, with their calendars."""
    key = str(session.bind.url) if session.bind is not None else ""
    hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < _CACHE_SECONDS:
        return hit[1]
    rows = (
        await session.execute(
            select(SlaPolicy, BusinessCalendar)
            .outerjoin(BusinessCalendar, BusinessCalendar.id == SlaPolicy.calendar_id)
            .where(SlaPolicy.active.is_(True))
            .order_by(SlaPolicy.position, SlaPolicy.id)
        )
    ).all()
    rules = [
        PolicyRule(
            id=policy.id,
            name=policy.name,
            match_priority=policy.match_priority,
            match_channel=policy.match_channel,
            match_organization_id=policy.match_organization_id,
            match_team_id=policy.match_team_id,
            match_tags=tuple(policy.match_tags or ()),
            first_response_minutes=policy.first_response_minutes,
            next_response_minutes=policy.next_response_minutes,
            resolution_minutes=policy.resolution_minutes,
            targets=dict(policy.targets or {}),
            warn_at_percent=policy.warn_at_percent,
            calendar=clock.calendar_from_row(cal.timezone, cal.weekly_hours, cal.holidays, cal.holiday_country,
                                             cal.holiday_region) if cal else None,
        )
        for policy, cal in rows
    ]
    _cache[key] = (time.monotonic(), rules)
    return rules


# -- the rules ----------------------------------------------------------------------------------------

def opened(rules: list[PolicyRule], ticket, at: datetime, tags=()) -> list[Stamp]:
    """A new ticket (a customer's first message at `at`): its policy starts first response and resolution."""
    rule = match(rules, ticket, tags)
    ticket.sla_policy_id = rule.id if rule else None
    ticket.first_response_due_at = ticket.resolution_due_at = None
    if rule is None:
        return []
    stamps = []
    for target in ("first_response", "resolution"):
        minutes = rule.minutes(target, ticket.priority)
        if minutes is not None:
            due = clock.add_business_time(at, minutes, rule.calendar)
            setattr(ticket, f"{target}_due_at", due)
            stamps.append(stamp(ticket, target, "started", at, due_at=due))
    return stamps


def customer_wrote(rules: list[PolicyRule], ticket, at: datetime) -> list[Stamp]:
    """A customer's message on a ticket: resumes a paused (or reopened) ticket's clocks and, after an
    agent's answer, starts the next-response clock (a new cycle)."""
    stamps = resumed(rules, ticket, at)
    rule = rule_of(rules, ticket)
    if rule is not None and ticket.first_responded_at is not None and ticket.next_response_due_at is None:
        minutes = rule.minutes("next_response", ticket.priority)
        if minutes is not None:
            ticket.next_response_due_at = clock.add_business_time(at, minutes, rule.calendar)
            stamps.append(stamp(ticket, "next_response", "started", at, cycle=NEXT,
                                due_at=ticket.next_response_due_at))
    return stamps


def agent_replied(rules: list[PolicyRule], ticket, at: datetime) -> list[Stamp]:
    """An agent's public reply (queued at `at`): meets first response and the running next response.
    A met target leaves the breach index: "what breaches next" only sees running clocks."""
    rule = rule_of(rules, ticket)
    stamps = []
    if ticket.first_responded_at is None:
        ticket.first_responded_at = at
        if ticket.first_response_due_at is not None:
            stamps.append(_met(rule, ticket, "first_response", at))
    ticket.first_response_due_at = None
    if ticket.next_response_due_at is not None:
        stamps.append(_met(rule, ticket, "next_response", at))
        ticket.next_response_due_at = None
    return stamps


def _met(rule: PolicyRule | None, ticket, target: str, at: datetime) -> Stamp:
    """The `met` stamp of a running (or paused) target, with the business time it took: its target
    less what was left (pauses are in the due time already, so they do not count)."""
    due = getattr(ticket, f"{target}_due_at")
    minutes = rule.minutes(target, ticket.priority) if rule else None
    left_at = ticket.sla_paused_at if target != "first_response" and ticket.sla_paused_at else at
    taken = None if minutes is None else minutes - clock.business_minutes_between(left_at, due, rule.calendar)
    return stamp(ticket, target, "met", at, cycle=CURRENT, due_at=due, business_minutes=taken)


def reply_failed(rules: list[PolicyRule], ticket, reply_at: datetime, now: datetime,
                 stopped: dict[str, datetime]) -> list[Stamp]:
    """An agent's reply queued at `reply_at` finally failed, and no other answer stands: the clocks it
    stopped (`stopped`: target -> the due time it had, from its `met` stamps) run again, from where
    they were, and say so (`restarted`)."""
    stamps = []
    for target, due in stopped.items():
        if target == "first_response":
            if ticket.first_responded_at != reply_at:
                continue
            ticket.first_responded_at = None
        elif ticket.next_response_due_at is not None:
            continue  # a customer's newer message already started another cycle
        setattr(ticket, f"{target}_due_at", due)
        stamps.append(stamp(ticket, target, "restarted", now, cycle=NEXT, due_at=due))
    return stamps


def paused(rules: list[PolicyRule], ticket, at: datetime) -> list[Stamp]:
    """Pending or on hold: resolution and next response stand still (first response runs on)."""
    if ticket.sla_paused_at is not None:
        return []
    ticket.sla_paused_at = at
    return [stamp(ticket, target, "paused", at, cycle=SEQUENCE, due_at=due)
            for target, due in (("resolution", ticket.resolution_due_at), ("next_response", ticket.next_response_due_at))
            if due is not None]


def resumed(rules: list[PolicyRule], ticket, at: datetime) -> list[Stamp]:
    """Back to new or open: the paused clocks run again, their due times moved on by the business time
    they stood still (so what was left, or overdue, is what it was when they paused)."""
    if ticket.sla_paused_at is None:
        return []
    calendar = calendar_for(rules, ticket.sla_policy_id)
    paused_at, ticket.sla_paused_at = ticket.sla_paused_at, None
    stamps = []
    for target in ("resolution", "next_response"):
        due = getattr(ticket, f"{target}_due_at")
        if due is not None:
            due = clock.resume(due, paused_at, at, calendar)
            setattr(ticket, f"{target}_due_at", due)
            stamps.append(stamp(ticket, target, "resumed", at, cycle=SEQUENCE, due_at=due))
    return stamps


def solved(rules: list[PolicyRule], ticket, at: datetime) -> list[Stamp]:
    """Solved or closed: resolution is met, every clock stops (a reopen resumes them)."""
    stamps = []
    if ticket.resolution_due_at is not None:
        stamps.append(_met(rule_of(rules, ticket), ticket, "resolution", at))
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = at
    return stamps


def status_changed(rules: list[PolicyRule], ticket, before: str, after: str, at: datetime) -> list[Stamp]:
    """The clock rules for a change of status (by an agent, a reply's "and mark ...", a snooze)."""
    if before == after:
        return []
    if after in STOPPED:
        return solved(rules, ticket, at) if before not in STOPPED else []
    if after in PAUSED:
        if before in STOPPED:  # reopened straight into pending: resumed, then paused
            return resumed(rules, ticket, at) + paused(rules, ticket, at)
        return paused(rules, ticket, at) if before in ACTIVE else []
    return resumed(rules, ticket, at)  # new or open from pending, on hold, solved or closed


# -- recompute from the history ------------------------------------------------------------------------

SLA_COLUMNS = ("sla_policy_id", "first_response_due_at", "next_response_due_at", "resolution_due_at",
               "first_responded_at", "sla_paused_at")


@dataclass
class _Replay:
    """A ticket as the rules see it while its history is replayed."""

    id: int
    priority: str
    channel: str
    organization_id: int | None
    team_id: int | None
    assignee_id: int | None
    created_at: datetime
    status: str = "new"
    solved_at: datetime | None = None
    sla_policy_id: int | None = None
    first_response_due_at: datetime | None = None
    next_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    first_responded_at: datetime | None = None
    sla_paused_at: datetime | None = None


def replay(rules: list[PolicyRule], ticket, tags, happenings: list[tuple[datetime, str, str | None]]) -> _Replay:
    """The SLA columns the rules give `ticket` (its current priority, team, tags) over its history:
    `happenings` are (at, "customer" | "reply" | "status", new status), oldest first."""
    state = _Replay(ticket.id, ticket.priority, ticket.channel, ticket.organization_id, ticket.team_id,
                    ticket.assignee_id, ticket.created_at)
    # opened by its first customer message (a split ticket's is older than the ticket), or when it was
    # made if it has none (made through the API, imported, or its messages moved away)
    first = next((at for at, what, _ in happenings if what == "customer"), None)
    opened(rules, state, min(filter(None, (first, ticket.created_at))), tags)
    for at, what, status in happenings:
        if what == "customer" and at == first:
            continue
        if what == "customer":
            if state.status in STOPPED:  # a customer's message reopens a solved ticket
                state.status, state.solved_at = "open", None
            elif state.status in PAUSED:
                state.status = "open"
            customer_wrote(rules, state, at)
        elif what == "reply":
            agent_replied(rules, state, at)
        elif what == "status" and status and status != state.status:
            before, state.status = state.status, status
            if status in STOPPED and before not in STOPPED:
                state.solved_at = at
            status_changed(rules, state, before, status, at)
            if status not in STOPPED:
                state.solved_at = None
    return state


async def _history(session: AsyncSession, ticket_ids: list[int]) -> dict[int, list]:
    """Each ticket's customer messages, agents' standing replies and status changes, oldest first."""
    found: dict[int, list] = {ticket_id: [] for ticket_id in ticket_ids}
    messages = await session.execute(
        select(Message.ticket_id, Message.created_at, Message.direction)
        .where(Message.ticket_id.in_(ticket_ids), Message.auto_generated.is_(False),
               or_(Message.direction == "inbound",
                   and_(Message.direction == "outbound", Message.delivery_status != "failed"))))
    for ticket_id, at, direction in messages:
        found[ticket_id].append((at, 0 if direction == "inbound" else 1, "customer" if direction == "inbound"
                                 else "reply", None))
    changes = await session.execute(
        select(AuditEvent.object_id, AuditEvent.at, AuditEvent.data)
        .where(AuditEvent.object_type == "ticket", AuditEvent.object_id.in_(ticket_ids),
               AuditEvent.action == "ticket.update"))
    for ticket_id, at, data in changes:
        status = (data or {}).get("status")
        if isinstance(status, list):
            status = status[-1]
        if status:
            found[ticket_id].append((at, 2, "status", status))
    return {ticket_id: [(at, what, status) for at, _, what, status in sorted(items, key=lambda i: (i[0], i[1]))]
            for ticket_id, items in found.items()}


async def recompute(session: AsyncSession, ticket: Ticket, *, rules: list[PolicyRule] | None = None) -> bool:
    """The ticket's policy and due times again from its history (after a change of priority, team or
    tags, or of the policies). Sets the columns; the caller commits. Returns whether any changed."""
    rules = rules if rules is not None else await load_policies(session)
    tags = list(await session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket.id)))
    happenings = (await _history(session, [ticket.id]))[ticket.id]
    return _adopt(ticket, replay(rules, ticket, tags, happenings))


def _adopt(ticket: Ticket, state: _Replay) -> bool:
    changed = False
    for name in SLA_COLUMNS:
        if name == "sla_paused_at" and ticket.status not in STOPPED + PAUSED:
            value = None
        elif name == "sla_paused_at":
            value = getattr(ticket, name) or getattr(state, name)
        else:
            value = getattr(state, name)
        if getattr(ticket, name) != value:
            setattr(ticket, name, value)
            changed = True
    return changed


async def recompute_open_tickets(session: AsyncSession, *, policy_ids: list[int] | None = None,
                                 batch: int = 500) -> int:
    """After a policy or calendar edit: every open ticket those policies cover, before or after the
    edit (those under them, under a policy tried after them, or under none), gets its due times from
    its history again. Commits per batch; returns how many tickets changed."""
    forget_cached_policies()
    rules = await load_policies(session)
    condition = Ticket.status.in_(OPEN_STATUSES) & Ticket.merged_into_id.is_(None)
    if policy_ids is not None:
        positions = {rule.id: index for index, rule in enumerate(rules)}
        first = min((positions[p] for p in policy_ids if p in positions), default=len(rules))
        later = [rule.id for rule in rules[first:]]
        condition &= or_(Ticket.sla_policy_id.in_(set(later) | set(policy_ids)), Ticket.sla_policy_id.is_(None))
    changed, after = 0, 0
    while True:
        tickets = list(await session.scalars(select(Ticket).where(condition, Ticket.id > after)
                                             .order_by(Ticket.id).limit(batch)))
        if not tickets:
            return changed
        ids = [t.id for t in tickets]
        history = await _history(session, ids)
        tags: dict[int, list[str]] = {i: [] for i in ids}
        for ticket_id, tag in await session.execute(select(TicketTag.ticket_id, TicketTag.tag)
                                                    .where(TicketTag.ticket_id.in_(ids))):
            tags[ticket_id].append(tag)
        for ticket in tickets:
            if _adopt(ticket, replay(rules, ticket, tags[ticket.id], history[ticket.id])):
                changed += 1
        await session.commit()
        after = ids[-1]


async def calendars(session: AsyncSession) -> list[BusinessCalendar]:
    """Every business calendar, by name (what a chat channel's business hours can be)."""
    return list(await session.scalars(select(BusinessCalendar).order_by(BusinessCalendar.name)))
