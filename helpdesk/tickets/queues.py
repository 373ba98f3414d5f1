"""Ticket queues: their definitions, counts, filters and keyset pagination.

A queue is a named filter over tickets ("mine", "unassigned", "team:3", "channel:email", ...).
Lists are paged by a keyset cursor (the sort key of the last row), never OFFSET, so page 500
costs what page 1 costs.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Select, and_, case, func, literal, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.staff import directory as staff
from helpdesk.models import OPEN_STATUSES, PRIORITIES, STATUSES, Agent, Customer, Ticket, TicketTag, utcnow
from helpdesk.models.tickets import ACTIVE_STATUS_SQL, OPEN_STATUS_SQL

PAGE_SIZE = 50
ACTIVE_STATUSES = ("new", "open")  # clocks run: what "breaching soon" looks at

FIXED_QUEUES = {
    "mine": "My open",
    "unassigned": "Unassigned",
    "open": "All open",
    "pending": "Pending",
    "solved": "Solved",
    "breaching": "Breaching soon",
}
CHANNELS = ("email", "chat", "whatsapp", "messenger", "instagram", "telegram")


class UnknownQueue(LookupError):
    """A queue name that does not exist (a typo in a URL, a deleted team)."""


@dataclass(frozen=True)
class Filters:
    """What the agent narrowed the queue to; empty strings mean "any"."""

    status: str = ""
    priority: str = ""
    channel: str = ""
    assignee: str = ""  # an agent id, "none" or ""
    tag: str = ""

    @classmethod
    def from_query(cls, query: dict[str, str]) -> "Filters":
        def pick(name: str, allowed: tuple[str, ...] | None = None) -> str:
            value = (query.get(name) or "").strip()[:50]
            return value if allowed is None or value in allowed else ""

        assignee = pick("assignee")
        if assignee not in ("", "none") and not assignee.isdigit():
            assignee = ""
        return cls(status=pick("status", STATUSES), priority=pick("priority", PRIORITIES),
                   channel=pick("channel", CHANNELS), assignee=assignee, tag=pick("tag").lower())

    def as_query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.as_query())


@dataclass
class QueueRow:
    id: int
    number: int | None
    subject: str
    status: str
    priority: str
    channel: str
    customer_name: str | None
    assignee_name: str | None
    updated_at: datetime
    next_due_at: datetime | None
    tags: list[str] = field(default_factory=list)


@dataclass
class QueuePage:
    name: str
    title: str
    rows: list[QueueRow]
    next_cursor: str | None
    filters: Filters


def queue_title(name: str, teams: dict[int, str]) -> str:
    if name in FIXED_QUEUES:
        return FIXED_QUEUES[name]
    kind, _, value = name.partition(":")
    if kind == "team" and value.isdigit() and int(value) in teams:
        return f"Team {teams[int(value)]}"
    if kind == "channel" and value in CHANNELS:
        return f"{value.capitalize()}"
    raise UnknownQueue(f"there is no queue called {name!r}")


def next_due():
    """The nearest of a ticket's three due times, in SQL that SQLite and PostgreSQL both run.

    SQLite's scalar min() returns NULL when any argument is NULL and PostgreSQL spells it
    LEAST, so the comparison is written out.
    """
    a, b, c = Ticket.first_response_due_at, Ticket.next_response_due_at, Ticket.resolution_due_at
    return case(
        (and_(a.is_not(None), a <= func.coalesce(b, a), a <= func.coalesce(c, a)), a),
        (and_(b.is_not(None), b <= func.coalesce(c, b)), b),
        else_=c,
    )


def _queue_condition(name: str, agent_id: int):
    open_ = text(OPEN_STATUS_SQL)
    if name == "mine":
        return and_(open_, Ticket.assignee_id == agent_id)
    if name == "unassigned":
        return and_(open_, Ticket.assignee_id.is_(None))
    if name == "open":
        return open_
    if name == "pending":
        return Ticket.status == "pending"
    if name == "solved":
        return Ticket.status == "solved"
    if name == "breaching":
        # matches the partial expression index ix_tickets_next_due (migration 0006)
        return and_(text(ACTIVE_STATUS_SQL), Ticket.sla_paused_at.is_(None), next_due().is_not(None))
    kind, _, value = name.partition(":")
    if kind == "team" and value.isdigit():
        return and_(open_, Ticket.team_id == int(value))
    if kind == "channel" and value in CHANNELS:
        return and_(open_, Ticket.channel == value)
    raise UnknownQueue(f"there is no queue called {name!r}")


def _apply_filters(statement: Select, filters: Filters) -> Select:
    if filters.status:
        statement = statement.where(Ticket.status == filters.status)
    if filters.priority:
        statement = statement.where(Ticket.priority == filters.priority)
    if filters.channel:
        statement = statement.where(Ticket.channel == filters.channel)
    if filters.assignee == "none":
        statement = statement.where(Ticket.assignee_id.is_(None))
    elif filters.assignee:
        statement = statement.where(Ticket.assignee_id == int(filters.assignee))
    if filters.tag:
        statement = statement.where(
            Ticket.id.in_(select(TicketTag.ticket_id).where(TicketTag.tag == filters.tag))
        )
    return statement


def encode_cursor(key: datetime, ticket_id: int) -> str:
    raw = json.dumps([key.isoformat(), ticket_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """A cursor from a URL; anything malformed means "first page", never an error page."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, ticket_id = json.loads(raw)
        parsed = datetime.fromisoformat(when)
        if parsed.tzinfo is None:
            return None
        return parsed, int(ticket_id)
    except (ValueError, TypeError):
        return None


async def list_queue(
    session: AsyncSession,
    name: str,
    *,
    agent_id: int,
    filters: Filters = Filters(),
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> QueuePage:
    """One page of a queue: newest activity first ("breaching soon": nearest due first)."""
    teams = {team.id: team.name for team in await staff.teams(session)}
    title = queue_title(name, teams)
    due = next_due()
    statement = (
        select(Ticket.id, Ticket.number, Ticket.subject, Ticket.status, Ticket.priority, Ticket.channel,
               Ticket.updated_at, Customer.name.label("customer_name"), Agent.name.label("assignee_name"),
               due.label("next_due_at"))
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Agent, Agent.id == Ticket.assignee_id)
        .where(_queue_condition(name, agent_id), Ticket.merged_into_id.is_(None))
    )
    statement = _apply_filters(statement, filters)
    after = decode_cursor(cursor)
    if name == "breaching":
        if after:
            statement = statement.where(or_(due > after[0], and_(due == after[0], Ticket.id > after[1])))
        statement = statement.order_by(due.asc(), Ticket.id.asc())
    else:
        if after:
            statement = statement.where(
                or_(Ticket.updated_at < after[0], and_(Ticket.updated_at == after[0], Ticket.id < after[1]))
            )
        statement = statement.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    result = (await session.execute(statement.limit(limit + 1))).all()
    rows = [QueueRow(id=r.id, number=r.number, subject=r.subject, status=r.status, priority=r.priority,
                     channel=r.channel, customer_name=r.customer_name, assignee_name=r.assignee_name,
                     updated_at=r.updated_at, next_due_at=_as_utc(r.next_due_at)) for r in result[:limit]]
    if rows:
        tags: dict[int, list[str]] = {}
        for ticket_id, tag in await session.execute(
            select(TicketTag.ticket_id, TicketTag.tag).where(TicketTag.ticket_id.in_([r.id for r in rows]))
            .order_by(TicketTag.tag)
        ):
            tags.setdefault(ticket_id, []).append(tag)
        for row in rows:
            row.tags = tags.get(row.id, [])
    next_cursor = None
    if len(result) > limit:
        last = rows[-1]
        next_cursor = encode_cursor(last.next_due_at if name == "breaching" else last.updated_at, last.id)
    return QueuePage(name=name, title=title, rows=rows, next_cursor=next_cursor, filters=filters)


def _as_utc(value):
    # the CASE expression loses the column type, so SQLite hands back a string or naive datetime
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass
class QueueCount:
    name: str
    title: str
    count: int | None  # None: not counted yet (the nav fetches its counts after the page)

    @property
    def label(self) -> str:
        if self.count is None:
            return ""
        return f"{COUNT_CAP}+" if self.count > COUNT_CAP else str(self.count)


# Counting stops here: "999+" is as useful to an agent as 183,402, and a capped count reads at
# most this many index entries, so the queue nav costs the same on a million tickets.
COUNT_CAP = 999


def _capped_count(name: str, agent_id: int):
    hits = (select(Ticket.id).where(_queue_condition(name, agent_id), Ticket.merged_into_id.is_(None))
            .order_by(*_count_order(name)).limit(COUNT_CAP + 1).subquery())
    return select(literal(name).label("name"), func.count().label("n")).select_from(hits)


def _count_order(name: str) -> tuple:
    """An order the queue's index already has, so the capped count walks that index and stops.

    Unordered, PostgreSQL may bet on a sequential scan that meets COUNT_CAP matching rows
    early; where the matching tickets lie late in the heap (open ones are the newest) that bet
    took 250 ms on 1M tickets instead of 1-3 ms. Sorting a whole queue instead of walking the
    index is never cheaper, so this order keeps the planner on the index.
    """
    if name == "breaching":
        return next_due(), Ticket.id  # ix_tickets_next_due
    if name in ("pending", "solved"):
        return Ticket.status, Ticket.updated_at  # ix_tickets_status_updated
    return Ticket.channel, Ticket.assignee_id, Ticket.team_id  # ix_tickets_open_queue (open tickets only)


async def _queue_titles(session: AsyncSession) -> dict[str, str]:
    return {**FIXED_QUEUES, **{f"team:{team.id}": f"Team {team.name}" for team in await staff.teams(session)},
            **{f"channel:{c}": c.capitalize() for c in CHANNELS}}


async def queue_nav(session: AsyncSession) -> list[QueueCount]:
    """The queues a page's nav links to, uncounted: a page renders at once and the nav fetches
    `queue_counts` itself (see docs/performance.md). Channel queues appear once counted."""
    return [QueueCount(name, title, None) for name, title in (await _queue_titles(session)).items()
            if not name.startswith("channel:")]


async def queue_counts(session: AsyncSession, *, agent_id: int) -> list[QueueCount]:
    """Every queue with its ticket count (capped at COUNT_CAP + 1): two queries, each count indexed."""
    titles = await _queue_titles(session)
    found = dict((await session.execute(union_all(*(_capped_count(name, agent_id) for name in titles)))).all())
    return [QueueCount(name, title, found.get(name, 0)) for name, title in titles.items()
            if not name.startswith("channel:") or found.get(name)]


@dataclass
class LoadRow:
    agent_id: int
    name: str
    open_count: int
    breached_count: int


async def sla_board(session: AsyncSession, *, limit: int = 50) -> dict:
    """What team leads watch: breached tickets, what breaches next, and each agent's load."""
    current = utcnow()
    overdue = await list_queue(session, "breaching", agent_id=0, limit=limit)
    breached = [row for row in overdue.rows if row.next_due_at and row.next_due_at <= current]
    # the keyset cursor doubles as "due after now": the next ones to breach, nearest first
    upcoming = (await list_queue(session, "breaching", agent_id=0, limit=limit,
                                 cursor=encode_cursor(current, 0))).rows
    load = (
        await session.execute(
            select(Agent.id, Agent.name, func.count(Ticket.id),
                   func.coalesce(func.sum(case((Ticket.sla_breached_at.is_not(None), 1), else_=0)), 0))
            .outerjoin(Ticket, and_(Ticket.assignee_id == Agent.id, Ticket.status.in_(OPEN_STATUSES),
                                    Ticket.merged_into_id.is_(None)))
            .where(Agent.active.is_(True))
            .group_by(Agent.id, Agent.name)
            .order_by(func.count(Ticket.id).desc(), Agent.name)
        )
    ).all()
    return {
        "breached": breached,
        "more_breached": len(breached) == limit,
        "upcoming": upcoming,
        "load": [LoadRow(agent_id, name, n, int(b)) for agent_id, name, n, b in load],
        "now": current,
    }
