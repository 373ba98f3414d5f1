"""Recording what happens to a ticket's SLA clocks (`SlaEvent` rows): started, paused, resumed, met,
warned, breached, restarted.

Each row is written with INSERT ... ON CONFLICT DO NOTHING on the unique (ticket, target, kind,
cycle), on SQLite and PostgreSQL alike, so a stamp or an escalation happens once however often the
rule that writes it runs (two sweeps racing, a redelivered job). A target's *current cycle* is the
highest cycle of its `started` and `restarted` rows: a next-response clock starts a new cycle on each
customer message after an agent's answer, and a clock restarted by a failed reply starts a new one too.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import SlaEvent

_E = SlaEvent.__table__
CURRENT, NEXT = "current", "next"  # a cycle relative to the target's current one
SEQUENCE = "sequence"  # one more than the last row of the same kind: pauses and resumes, each recorded
STARTS = ("started", "restarted")  # the rows that open a cycle


@dataclass
class Stamp:
    """One SlaEvent to record; `cycle` is a number or CURRENT / NEXT. `ticket_id` may be filled in
    later (ingest knows a new ticket's id only once it is stored)."""

    ticket_id: int | None
    target: str
    kind: str
    at: datetime
    cycle: int | str = 0
    due_at: datetime | None = None
    business_minutes: float | None = None
    agent_id: int | None = None
    team_id: int | None = None
    channel: str | None = None
    priority: str | None = None

    def values(self) -> dict:
        minutes = None if self.business_minutes is None else int(round(self.business_minutes))
        return {"ticket_id": self.ticket_id, "target": self.target, "kind": self.kind, "at": self.at,
                "due_at": self.due_at, "business_minutes": minutes, "agent_id": self.agent_id,
                "team_id": self.team_id, "channel": self.channel, "priority": self.priority}


def stamp(ticket, target: str, kind: str, at: datetime, *, cycle: int | str = 0, due_at: datetime | None = None,
          business_minutes: float | None = None) -> Stamp:
    """A stamp for `ticket` (anything with the Ticket attributes) with its assignee, team, channel and
    priority at the time."""
    return Stamp(getattr(ticket, "id", None), target, kind, at, cycle, due_at, business_minutes,
                 getattr(ticket, "assignee_id", None), getattr(ticket, "team_id", None),
                 getattr(ticket, "channel", None), getattr(ticket, "priority", None))


def _insert(dialect: str):
    return (postgresql if dialect == "postgresql" else sqlite).insert(_E)


def current_cycle(ticket_id, target: str):
    """The target's current cycle as a scalar subquery (0 before any start): for set-based statements
    over many tickets (the sweep), `ticket_id` being the outer query's column."""
    starts = _E.alias("starts")
    return (select(func.coalesce(func.max(starts.c.cycle), 0))
            .where(starts.c.ticket_id == ticket_id, starts.c.target == target, starts.c.kind.in_(STARTS))
            .correlate_except(starts).scalar_subquery())  # the ticket is the outer query's, however deep


_COLUMNS = ("ticket_id", "target", "kind", "at", "due_at", "business_minutes", "agent_id", "team_id", "channel",
            "priority")


@cache
def _statement(dialect: str, cycle: int | str):
    """The INSERT for a stamp with this kind of cycle, built once per database: its values are bound
    by name (`Stamp.values()`). A relative cycle is read in the same statement (INSERT ... SELECT), so
    it is right however many writers there are; the unique key makes a repeat do nothing."""
    if cycle == "fixed":
        return _insert(dialect).on_conflict_do_nothing()
    # MAX over no rows is one row of NULL: the first cycle is 0 either way
    number = (func.coalesce(func.max(_E.c.cycle), 0) if cycle == CURRENT
              else func.coalesce(func.max(_E.c.cycle) + 1, 0))
    kinds = _E.c.kind == bindparam("kind") if cycle == SEQUENCE else _E.c.kind.in_(STARTS)
    source = (select(*[bindparam(name, type_=_E.c[name].type) for name in _COLUMNS], number)
              .where(_E.c.ticket_id == bindparam("ticket_id"), _E.c.target == bindparam("target"), kinds))
    return (_insert(dialect).from_select([*(_E.c[name] for name in _COLUMNS), _E.c.cycle], source)
            .on_conflict_do_nothing())


def _execute_args(dialect: str, stamps: list[Stamp]) -> list[tuple]:
    """(statement, parameters) pairs: the stamps with a fixed cycle (a new ticket's) as one executemany."""
    fixed = [dict(item.values(), cycle=item.cycle) for item in stamps if isinstance(item.cycle, int)]
    pairs = [(_statement(dialect, "fixed"), fixed)] if fixed else []
    return pairs + [(_statement(dialect, item.cycle), item.values()) for item in stamps if not isinstance(item.cycle, int)]


def record_on(conn, stamps: list[Stamp]) -> None:
    """Record the stamps on a synchronous connection (ingest runs its statements on one)."""
    for statement, parameters in _execute_args(conn.dialect.name, stamps):
        conn.execute(statement, parameters)


async def record(session: AsyncSession, stamps: list[Stamp]) -> None:
    """Record the stamps in the session's transaction (committed with the change they are about)."""
    for statement, parameters in _execute_args(session.bind.dialect.name, stamps):
        await session.execute(statement, parameters)
