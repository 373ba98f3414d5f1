"""Ticket queues: their definitions, counts, filters and keyset pagination.

A queue is a named filter over tickets ("mine", "unassigned", "team:3", "channel:email", ...).
Lists are paged by a keyset cursor (the sort key of the last row), never OFFSET, so page 500
costs what page 1 costs; every order an agent can choose (`SORTS`) walks an index in that order
(migrations 0006 and 0011).
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Integer, Select, and_, case, func, literal, literal_column, not_, select, text, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.staff import directory as staff
from helpdesk.models import OPEN_STATUSES, PRIORITIES, STATUSES, Agent, Customer, Message, Ticket, TicketTag, utcnow
from helpdesk.models.base import MAX_ID
from helpdesk.models.tickets import ACTIVE_STATUS_SQL, CHANNEL_NAMES, CHANNELS, OPEN_STATUS_SQL

PAGE_SIZE = 50
ACTIVE_STATUSES = ("new", "open")  # clocks run: what "breaching soon" looks at

FIXED_QUEUES = {
    "mine": "My open",
    "unassigned": "Unassigned",
    "open": "All open",
    "pending": "Pending",
    "snoozed": "Snoozed",
    "solved": "Solved",
    "breaching": "Breaching soon",
}
# The orders an agent can choose (`?sort=`); the first a queue offers is its default.
SORTS = {
    "activity": "Last activity",
    "oldest": "Oldest activity",
    "created": "Newest created",
    "priority": "Priority",
    "due": "SLA due soonest",
    "back": "Back soonest",  # the snoozed queue's order (helpdesk/tickets/snooze.py)
}
PRIORITY_RANK = {"urgent": 3, "high": 2, "normal": 1, "low": 0}


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
    updated_at: datetime  # the last activity: a message in or out, a note, a change of a property
    next_due_at: datetime | None  # None while the SLA clock is paused
    created_at: datetime | None = None
    snoozed_until: datetime | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def breached(self) -> bool:
        return self.next_due_at is not None and self.next_due_at <= utcnow()


@dataclass
class QueuePage:
    name: str
    title: str
    rows: list[QueueRow]
    next_cursor: str | None
    filters: Filters
    sort: str = "activity"

    @property
    def sorts(self) -> dict[str, str]:
        return {name: SORTS[name] for name in sorts_for(self.name)}

    @property
    def query(self) -> dict[str, str]:
        """Filters and order as the URL keeps them: paging, the live refresh and bulk actions carry them."""
        query = self.filters.as_query()
        if self.sort != sorts_for(self.name)[0]:
            query["sort"] = self.sort
        return query


def sorts_for(name: str) -> tuple[str, ...]:
    """The orders a queue offers, its default first. "Breaching soon" is the due order itself;
    solved tickets have no due time left and their priority no longer decides anything."""
    if name == "breaching":
        return ("due",)
    if name == "solved":
        return ("activity", "oldest", "created")
    if name == "snoozed":
        return ("back",)
    return tuple(sort for sort in SORTS if sort != "back")


def queue_title(name: str, teams: dict[int, str]) -> str:
    if name in FIXED_QUEUES:
        return FIXED_QUEUES[name]
    kind, _, value = name.partition(":")
    if kind == "team" and value.isdigit() and int(value) in teams:
        return f"Team {teams[int(value)]}"
    if kind == "channel" and value in CHANNELS:
        return CHANNEL_NAMES[value]
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


def priority_rank():
    """Urgent 3, high 2, normal 1, low 0: spelled as the expression index ix_tickets_open_priority
    (migration 0011) has it, without bound parameters, or neither database would use the index."""
    whens = " ".join(f"WHEN '{p}' THEN {rank}" for p, rank in PRIORITY_RANK.items() if rank)
    return literal_column(f"CASE tickets.priority {whens} ELSE 0 END", Integer)


def _queue_condition(name: str, agent_id: int):
    # A snoozed ticket is pending or on hold (outbox.set_status ends the snooze of any other): "breaching"
    # (running clocks only) leaves it out by its partial index, the other open queues filter it here, and
    # "snoozed" needs no status condition, which would pair ix_tickets_snoozed_until with a bitmap of
    # every open ticket (1-8 ms on 1M tickets, against 0.2 ms for the snoozed ones alone).
    open_ = and_(text(OPEN_STATUS_SQL), Ticket.snoozed_until.is_(None))
    if name == "snoozed":
        return Ticket.snoozed_until.is_not(None)
    if name == "mine":
        return and_(open_, Ticket.assignee_id == agent_id)
    if name == "unassigned":
        return and_(open_, Ticket.assignee_id.is_(None))
    if name == "open":
        return open_
    # statuses written out, not bound: a partial index (migrations 0005, 0006, 0011) serves a query
    # only when its WHERE states the index's condition with constants (SQLite, PostgreSQL's generic plans)
    if name == "pending":
        # not beside the open-status list: PostgreSQL multiplies the two conditions on `status` (10k
        # pending tickets estimated at 480, so from page 40 it sorted instead of walking an index), and
        # it derives the open partial indexes' condition from the constant itself
        return and_(text("tickets.status = 'pending'"), Ticket.snoozed_until.is_(None))
    if name == "solved":
        return text("tickets.status = 'solved'")
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


def encode_cursor(*key) -> str:
    """The sort key of a page's last row (datetimes, ranks, the id last), for the next page's URL."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# what a cursor holds, per order: t a UTC time, r a priority rank, i a ticket id, - nothing (a
# ticket without a running due time, after those with one)
_CURSOR_SHAPES = {"activity": ("ti",), "oldest": ("ti",), "created": ("ti",), "priority": ("rti",),
                  "due": ("ti", "-ti"), "back": ("ti",)}


def decode_cursor(cursor: str | None, sort: str = "activity") -> tuple | None:
    """A cursor from a URL; anything malformed (or made for another order) means "first page", never an error page."""
    if not cursor:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        for shape in _CURSOR_SHAPES.get(sort, ()):
            if isinstance(raw, list) and len(raw) == len(shape):
                key = tuple(_cursor_value(kind, value) for kind, value in zip(shape, raw))
                if None not in key[shape.startswith("-"):]:
                    return key
    except (ValueError, TypeError):
        pass
    return None


def _cursor_value(kind: str, value):
    if kind == "t":
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(timezone.utc) if parsed.tzinfo is not None else None
    if kind == "-":
        if value is not None:
            raise ValueError("a cursor of another shape")
        return None
    if type(value) is not int:
        return None
    return value if (0 <= value <= MAX_ID if kind == "i" else value in PRIORITY_RANK.values()) else None


def _order(sort: str) -> tuple[tuple, bool]:
    """A sort's key, most significant first and the id last, and whether it runs newest first."""
    if sort == "oldest":
        return (Ticket.updated_at, Ticket.id), False
    if sort == "created":
        return (Ticket.created_at, Ticket.id), True
    if sort == "priority":
        return (priority_rank(), Ticket.updated_at, Ticket.id), True
    if sort == "due":
        return (next_due(), Ticket.id), False
    if sort == "back":
        return (Ticket.snoozed_until, Ticket.id), False
    return (Ticket.updated_at, Ticket.id), True


def _row_key(row: "QueueRow", sort: str) -> tuple:
    if sort == "created":
        return row.created_at, row.id
    if sort == "priority":
        return PRIORITY_RANK.get(row.priority, 0), row.updated_at, row.id
    if sort == "due":
        return (row.next_due_at, row.id) if row.next_due_at else (None, row.updated_at, row.id)
    if sort == "back":
        return row.snoozed_until, row.id
    return row.updated_at, row.id


async def _walk(session: AsyncSession, statement: Select, sort: str, after: tuple | None, limit: int) -> list:
    """Up to `limit` rows in the sort's order after the key `after`: a row comparison, which both
    databases turn into a range on the sort's index (an OR of column comparisons they do not)."""
    keys, descending = _order(sort)
    if after:
        bound = tuple_(*(literal(value, key.type) for key, value in zip(keys, after)))
        statement = statement.where(tuple_(*keys) < bound if descending else tuple_(*keys) > bound)
    return list((await session.execute(
        statement.order_by(*(key.desc() if descending else key.asc() for key in keys)).limit(limit))).all())


async def list_queue(
    session: AsyncSession,
    name: str,
    *,
    agent_id: int,
    filters: Filters = Filters(),
    sort: str = "",
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> QueuePage:
    """One page of a queue in the chosen order (default: last activity first; "breaching soon":
    nearest due first). A sort the queue does not offer is its default."""
    teams = {team.id: team.name for team in await staff.teams(session)}
    title = queue_title(name, teams)
    sort = sort if sort in sorts_for(name) else sorts_for(name)[0]
    due = next_due()
    statement = (
        select(Ticket.id, Ticket.number, Ticket.subject, Ticket.status, Ticket.priority, Ticket.channel,
               Ticket.updated_at, Ticket.created_at, Ticket.snoozed_until, Customer.name.label("customer_name"),
               Agent.name.label("assignee_name"), case((Ticket.sla_paused_at.is_(None), due)).label("next_due_at"))
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Agent, Agent.id == Ticket.assignee_id)
        .where(_queue_condition(name, agent_id), Ticket.merged_into_id.is_(None))
    )
    statement = _apply_filters(statement, filters)
    after = decode_cursor(cursor, sort)
    if sort == "due":
        # running due times first, nearest first (ix_tickets_next_due, ix_tickets_open_due); then the
        # tickets without one (none set, or paused) by last activity, as a second walk
        running = and_(due.is_not(None), Ticket.sla_paused_at.is_(None))
        result = []
        if after is None or after[0] is not None:
            result = await _walk(session, statement.where(running), "due", after, limit + 1)
            after = None
        if len(result) <= limit and name != "breaching":
            result += await _walk(session, statement.where(not_(running)), "activity", after and after[1:],
                                  limit + 1 - len(result))
    else:
        result = await _walk(session, statement, sort, after, limit + 1)
    rows = [QueueRow(id=r.id, number=r.number, subject=r.subject, status=r.status, priority=r.priority,
                     channel=r.channel, customer_name=r.customer_name, assignee_name=r.assignee_name,
                     updated_at=r.updated_at, created_at=r.created_at, next_due_at=_as_utc(r.next_due_at),
                     snoozed_until=r.snoozed_until)
            for r in result[:limit]]
    if rows:
        tags: dict[int, list[str]] = {}
        for ticket_id, tag in await session.execute(
            select(TicketTag.ticket_id, TicketTag.tag).where(TicketTag.ticket_id.in_([r.id for r in rows]))
            .order_by(TicketTag.tag)
        ):
            tags.setdefault(ticket_id, []).append(tag)
        for row in rows:
            row.tags = tags.get(row.id, [])
    next_cursor = encode_cursor(*_row_key(rows[-1], sort)) if len(result) > limit else None
    return QueuePage(name=name, title=title, rows=rows, next_cursor=next_cursor, filters=filters, sort=sort)


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
    if name == "snoozed":
        return (Ticket.snoozed_until,)  # ix_tickets_snoozed_until
    return Ticket.channel, Ticket.assignee_id, Ticket.team_id  # ix_tickets_open_queue (open tickets only)


async def _queue_titles(session: AsyncSession) -> dict[str, str]:
    return {**FIXED_QUEUES, **{f"team:{team.id}": f"Team {team.name}" for team in await staff.teams(session)},
            **{f"channel:{c}": CHANNEL_NAMES[c] for c in CHANNELS}}


async def queue_nav(session: AsyncSession) -> list[QueueCount]:
    """The queues a page's nav links to, uncounted: a page renders at once and the nav fetches
    `queue_counts` itself (see docs/performance.md). Channel queues appear once counted."""
    return [QueueCount(name, title, None) for name, title in (await _queue_titles(session)).items()
            if not name.startswith("channel:")]


async def queue_counts(session: AsyncSession, *, agent_id: int) -> list[QueueCount]:
    """Every queue with its ticket count (capped at COUNT_CAP + 1): two queries, each count indexed,
    or none when nothing changed since the last count (`_counts_version`)."""
    key = (str(session.bind.url) if session.bind is not None else "", agent_id)
    version = await _counts_version(session)
    hit = _counts_cache.get(key)
    if hit and hit[0] == version and time.monotonic() - hit[1] < COUNTS_FRESH_SECONDS:
        return hit[2]
    titles = await _queue_titles(session)
    found = dict((await session.execute(union_all(*(_capped_count(name, agent_id) for name in titles)))).all())
    counts = [QueueCount(name, title, found.get(name, 0)) for name, title in titles.items()
              if not name.startswith("channel:") or found.get(name)]
    if len(_counts_cache) >= 2000:  # agents x databases; a test run makes many
        _counts_cache.clear()
    _counts_cache[key] = (version, time.monotonic(), counts)
    return counts


# Every console re-fetches its counts after each live event: with 30 agents that is 30 identical
# counts of ~12 queues (30 ms each on 1M tickets) for one change. A count is reused while the data
# version is unchanged; the version is three index-only lookups (~0.3 ms). Every change to a ticket
# moves updated_at to now or adds a ticket or a message; what the version cannot see (time passing
# into "Breaching soon", an imported reply dated in the past) waits at most COUNTS_FRESH_SECONDS.
COUNTS_FRESH_SECONDS = 15.0
_counts_cache: dict[tuple[str, int], tuple[tuple, float, list[QueueCount]]] = {}


async def _counts_version(session: AsyncSession) -> tuple:
    return tuple((await session.execute(
        select(func.max(Ticket.updated_at), func.max(Ticket.id), select(func.max(Message.id)).scalar_subquery())
    )).one())
