"""The SLA board's numbers (/console/sla, team leads and admins).

Running clocks come from the tickets' due columns, on the "breaching" index (`queues.next_due`): a
ticket is *breached* while its nearest running due time has passed, and every count of breached
tickets (the summary, the list, each agent's) is that one condition, so they always agree. Outcomes
come from `sla_events`: a target is *attained* when its `met` stamp came by its due time and *missed*
when it was `breached` (a late `met` after a breach is the same miss, counted once). Days are UTC days.

Closed days do not change, so their outcomes are read once per CLOSED_DAYS_SECONDS and filter (the
board is re-fetched on every live event); today's are read each time.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import PRIORITIES, SLA_TARGETS, Agent, Customer, SlaEvent, Ticket, utcnow
from helpdesk.models.tickets import ACTIVE_STATUS_SQL, CHANNELS, OPEN_STATUS_SQL
from helpdesk.staff import directory as staff
from helpdesk.tickets.queues import _as_utc as _utc, next_due

WINDOWS = {"today": "Today", "7d": "7 days", "30d": "30 days"}
TARGET_TITLES = {"first_response": "First response", "next_response": "Next response", "resolution": "Resolution"}
SOON = timedelta(hours=1)  # "breaching in the next hour", and an agent's tickets at risk
LIST_LIMIT = 50
# first-response distribution: bucket upper bounds in business minutes (the last is open-ended)
BUCKETS = ((15, "< 15m"), (30, "15–30m"), (60, "30–60m"), (120, "1–2h"), (240, "2–4h"), (480, "4–8h"),
           (1440, "8–24h"), (None, "> 24h"))
CLOSED_DAYS_SECONDS = 300.0


@dataclass(frozen=True)
class BoardFilters:
    """What the lead narrowed the board to (in the URL): a team, a channel, a priority."""

    team_id: int | None = None
    channel: str = ""
    priority: str = ""

    @classmethod
    def from_query(cls, query) -> "BoardFilters":
        team = (query.get("team") or "").strip()
        channel, priority = (query.get("channel") or "").strip(), (query.get("priority") or "").strip()
        return cls(team_id=int(team) if team.isdigit() and len(team) < 10 else None,
                   channel=channel if channel in CHANNELS else "", priority=priority if priority in PRIORITIES else "")

    def as_query(self) -> dict[str, str]:
        query = {"team": str(self.team_id) if self.team_id else "", "channel": self.channel, "priority": self.priority}
        return {k: v for k, v in query.items() if v}

    def on(self, team_id, channel, priority) -> list:
        """These filters as conditions on a table's team, channel and priority columns."""
        return [condition for wanted, condition in ((self.team_id, team_id == self.team_id),
                                                    (self.channel, channel == self.channel),
                                                    (self.priority, priority == self.priority)) if wanted]


@dataclass
class Rate:
    met: int = 0
    missed: int = 0

    def add(self, met: int, missed: int) -> None:
        self.met += met
        self.missed += missed

    @property
    def total(self) -> int:
        return self.met + self.missed

    @property
    def percent(self) -> float | None:
        return 100.0 * self.met / self.total if self.total else None


def _rates() -> dict[str, dict[str, Rate]]:
    """target -> window -> Rate, every cell present."""
    return {target: {window: Rate() for window in WINDOWS} for target in SLA_TARGETS}


@dataclass
class AtRisk:
    id: int
    number: int | None
    subject: str
    priority: str
    channel: str
    customer_name: str | None
    assignee_name: str | None
    due_at: datetime
    target: str  # which clock is the nearest

    @property
    def target_title(self) -> str:
        return TARGET_TITLES[self.target]


@dataclass
class AgentLoad:
    agent_id: int | None  # None: unassigned
    name: str
    open: int
    at_risk: int
    breached: int


@dataclass
class Board:
    now: datetime
    filters: BoardFilters
    breached_count: int
    soon_count: int
    overdue: list[AtRisk]  # the breached tickets, longest overdue first (LIST_LIMIT at most)
    upcoming: list[AtRisk]  # the next to breach, soonest first
    agents: list[AgentLoad]
    overall: dict[str, dict[str, Rate]]
    by_team: list[tuple[str, dict[str, dict[str, Rate]]]]
    by_channel: list[tuple[str, dict[str, dict[str, Rate]]]]
    percentiles: dict[str, dict[str, tuple[int | None, int | None, int]]]  # target -> window -> (median, p90, n)
    daily: list[tuple[date, dict[str, Rate]]]  # the last 30 days, oldest first: target -> Rate, and "all"
    distribution: list[tuple[str, int]]  # first response, 30 days
    teams: dict[int, str] = field(default_factory=dict)

    @property
    def attainment_today(self) -> Rate:
        total = Rate()
        for target in SLA_TARGETS:
            total.add(self.overall[target]["today"].met, self.overall[target]["today"].missed)
        return total


def _running():
    """A running clock (open or new, not paused, a due time set): matches the partial expression index
    ix_tickets_next_due (migration 0006), as the "breaching" queue does."""
    return and_(text(ACTIVE_STATUS_SQL), Ticket.sla_paused_at.is_(None), next_due().is_not(None))


async def board(session: AsyncSession, filters: BoardFilters = BoardFilters(), *, now: datetime | None = None) -> Board:
    now = now or utcnow()
    due = next_due()
    wanted = [_running(), Ticket.merged_into_id.is_(None), *filters.on(Ticket.team_id, Ticket.channel, Ticket.priority)]
    # breached and breaching soon per assignee, in one walk of the running clocks' index up to now + SOON:
    # the summary is their sum, so it agrees with every agent's column
    risk = {assignee: (int(late), int(soon)) for assignee, late, soon in (await session.execute(
        select(Ticket.assignee_id, func.sum(case((due <= now, 1), else_=0)), func.sum(case((due > now, 1), else_=0)))
        .where(*wanted, due <= now + SOON).group_by(Ticket.assignee_id))).all()}
    teams = {team.id: team.name for team in await staff.teams(session)}
    outcomes = await _outcomes(session, filters, now)
    return Board(now=now, filters=filters, breached_count=sum(late for late, _ in risk.values()),
                 soon_count=sum(soon for _, soon in risk.values()),
                 overdue=await _at_risk(session, wanted, due <= now), upcoming=await _at_risk(session, wanted, due > now),
                 agents=await _agents(session, filters, risk), teams=teams, **outcomes.tables(teams, now),
                 percentiles=outcomes.percentiles(), daily=outcomes.daily(now), distribution=outcomes.distribution())


async def _at_risk(session: AsyncSession, wanted: list, side) -> list[AtRisk]:
    due = next_due()
    rows = (await session.execute(
        select(Ticket.id, Ticket.number, Ticket.subject, Ticket.priority, Ticket.channel, Customer.name,
               Agent.name, due.label("due"), Ticket.first_response_due_at, Ticket.next_response_due_at)
        .join(Customer, Customer.id == Ticket.customer_id).outerjoin(Agent, Agent.id == Ticket.assignee_id)
        .where(*wanted, side).order_by(due, Ticket.id).limit(LIST_LIMIT))).all()
    result = []
    for row in rows:
        due_at = _utc(row.due)
        target = ("first_response" if _utc(row.first_response_due_at) == due_at
                  else "next_response" if _utc(row.next_response_due_at) == due_at else "resolution")
        result.append(AtRisk(row.id, row.number, row.subject, row.priority, row.channel, row[5], row[6], due_at, target))
    return result


async def _agents(session: AsyncSession, filters: BoardFilters, risk: dict) -> list[AgentLoad]:
    """Each agent's open tickets, with the breached and at-risk counts of `risk` (assignee -> (breached,
    breaching soon)). Open tickets are counted on ix_tickets_open_queue (channel, assignee, team; open
    statuses): a merged ticket is closed, so no merged_into_id condition sends the count to the table."""
    conditions = [text(OPEN_STATUS_SQL), *filters.on(Ticket.team_id, Ticket.channel, Ticket.priority)]
    opened = dict((await session.execute(
        select(Ticket.assignee_id, func.count()).where(*conditions).group_by(Ticket.assignee_id))).all())
    loads = [AgentLoad(a.id, a.name, int(opened.get(a.id, 0)), *reversed(risk.get(a.id, (0, 0))))
             for a in await staff.agents(session) if a.active or a.id in opened or a.id in risk]
    if None in opened or None in risk:
        loads.append(AgentLoad(None, "Unassigned", int(opened.get(None, 0)), *reversed(risk.get(None, (0, 0)))))
    return sorted(loads, key=lambda load: (-load.breached, -load.at_risk, -load.open, load.name))


# -- outcomes (sla_events) -----------------------------------------------------------------------------------

def _day(session: AsyncSession):
    """An event's UTC day: PostgreSQL's timestamptz in UTC, SQLite's stored UTC text."""
    if session.bind.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", SlaEvent.at))
    return func.date(SlaEvent.at)


@dataclass
class _Outcomes:
    """Outcome counts per (day, target, team, channel), and met minutes per (target, window)."""

    counts: list[tuple[date, str, int | None, str | None, int, int]]
    minutes: dict[tuple[str, str], Counter]

    def merge(self, other: "_Outcomes") -> "_Outcomes":
        minutes = {key: self.minutes.get(key, Counter()) + other.minutes.get(key, Counter())
                   for key in {*self.minutes, *other.minutes}}
        return _Outcomes(self.counts + other.counts, minutes)

    def tables(self, teams: dict[int, str], now: datetime) -> dict:
        starts = _window_starts(now)
        overall: dict = _rates()
        by_team: dict = {}
        by_channel: dict = {}
        for day, target, team_id, channel, met, missed in self.counts:
            if team_id not in by_team:
                by_team[team_id] = _rates()
            if channel not in by_channel:
                by_channel[channel] = _rates()
            for window, start in starts.items():
                if day >= start:
                    for rates in (overall, by_team[team_id], by_channel[channel]):
                        rates[target][window].add(met, missed)
        named = sorted(((teams.get(t, "No team") if t else "No team", r) for t, r in by_team.items()),
                       key=lambda item: item[0])
        return {"overall": overall, "by_team": named,
                "by_channel": sorted(((c or "unknown", r) for c, r in by_channel.items()), key=lambda item: item[0])}

    def daily(self, now: datetime) -> list[tuple[date, dict[str, Rate]]]:
        today = now.date()
        days = {today - timedelta(days=n): {key: Rate() for key in (*SLA_TARGETS, "all")} for n in range(29, -1, -1)}
        for day, target, _team, _channel, met, missed in self.counts:
            if day in days:
                days[day][target].add(met, missed)
                days[day]["all"].add(met, missed)
        return list(days.items())

    def percentiles(self) -> dict[str, dict[str, tuple[int | None, int | None, int]]]:
        return {target: {window: _quantiles(self.minutes.get((target, window), Counter())) for window in WINDOWS}
                for target in ("first_response", "resolution")}

    def distribution(self) -> list[tuple[str, int]]:
        counts = [0] * len(BUCKETS)
        for minutes, n in self.minutes.get(("first_response", "30d"), Counter()).items():
            counts[next(i for i, (bound, _) in enumerate(BUCKETS) if bound is None or minutes < bound)] += n
        return [(label, n) for (_, label), n in zip(BUCKETS, counts)]


def _window_starts(now: datetime) -> dict[str, date]:
    today = now.date()
    return {"today": today, "7d": today - timedelta(days=6), "30d": today - timedelta(days=29)}


def _quantiles(values: Counter) -> tuple[int | None, int | None, int]:
    """Median and 90th percentile (nearest rank) of minutes given as value -> how often; and how many."""
    total = sum(values.values())
    if not total:
        return None, None, 0
    ranks, result, seen = [max(1, -(-total * q // 100)) for q in (50, 90)], [], 0
    for value in sorted(values):
        seen += values[value]
        while ranks and seen >= ranks[0]:
            result.append(value)
            ranks.pop(0)
    return result[0], result[1], total


async def _outcomes(session: AsyncSession, filters: BoardFilters, now: datetime) -> _Outcomes:
    today = datetime.combine(now.date(), datetime.min.time(), timezone.utc)
    key = (str(session.bind.url), filters, today)
    hit = _closed_days.get(key)
    if hit is None or time.monotonic() - hit[0] > CLOSED_DAYS_SECONDS:
        if len(_closed_days) > 200:
            _closed_days.clear()
        hit = (time.monotonic(), await _read_outcomes(session, filters, today - timedelta(days=29), today, now))
        _closed_days[key] = hit
    return hit[1].merge(await _read_outcomes(session, filters, today, None, now))


_closed_days: dict[tuple, tuple[float, _Outcomes]] = {}


def forget_closed_days() -> None:
    _closed_days.clear()


async def _read_outcomes(session: AsyncSession, filters: BoardFilters, since: datetime, until: datetime | None,
                         now: datetime) -> _Outcomes:
    """Two grouped reads of the met and breached stamps from `since` (to `until`), on ix_sla_events_kind_at."""
    span = [SlaEvent.at >= since, *([SlaEvent.at < until] if until else []),
            *filters.on(SlaEvent.team_id, SlaEvent.channel, SlaEvent.priority)]
    on_time = and_(SlaEvent.kind == "met", or_(SlaEvent.due_at.is_(None), SlaEvent.at <= SlaEvent.due_at))
    day = _day(session).label("day")
    rows = (await session.execute(
        select(day, SlaEvent.target, SlaEvent.team_id, SlaEvent.channel,
               func.sum(case((on_time, 1), else_=0)), func.sum(case((SlaEvent.kind == "breached", 1), else_=0)))
        .where(SlaEvent.kind.in_(("met", "breached")), *span)
        .group_by(day, SlaEvent.target, SlaEvent.team_id, SlaEvent.channel))).all()
    counts = [(_as_date(d), target, team, channel, int(met), int(missed)) for d, target, team, channel, met, missed in rows]
    starts = {window: datetime.combine(start, datetime.min.time(), timezone.utc)
              for window, start in _window_starts(now).items()}
    minutes_rows = (await session.execute(
        select(SlaEvent.target, SlaEvent.business_minutes,
               *(func.sum(case((SlaEvent.at >= start, 1), else_=0)) for start in starts.values()))
        .where(SlaEvent.kind == "met", SlaEvent.target.in_(("first_response", "resolution")),
               SlaEvent.business_minutes.is_not(None), *span)
        .group_by(SlaEvent.target, SlaEvent.business_minutes))).all()
    minutes: dict[tuple[str, str], Counter] = {}
    for target, value, *per_window in minutes_rows:
        for window, n in zip(starts, per_window):
            if n:
                minutes.setdefault((target, window), Counter())[int(value)] += int(n)
    return _Outcomes(counts, minutes)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])

