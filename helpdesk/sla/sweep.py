"""The SLA sweep (the `sweep_sla` actor, every 30 s): stamps breaches, warns assignees before them,
escalates breaches to the team's lead, and tells open consoles.

Set-based: per target, one INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING writes the
`breached` (or `warned`) SlaEvent of each ticket whose clock is due, at the target's current cycle
(helpdesk/sla/events.py). The unique (ticket, target, kind, cycle) key decides who acts: only rows
this sweep inserted come back, so with several workers sweeping at once each breach is stamped,
notified and mailed once. Notifications are written in the same transaction as the stamps.

`tickets.sla_breached_at` is when the sweep last stamped a breach of the ticket (None: never).

Which tickets it looks at: a *full* sweep (the first in a process, then every FULL_EVERY) takes every
running clock that fell due after its ticket's `sla_breached_at`; the sweeps between take only those
that fell due since the previous one (an index range on each due column), tickets changed since
(their clocks may have moved into the past: a priority change, a resume), and clocks restarted
since (a failed reply). Left for later: a policy edit that moves a due time into the past, before a
breach the ticket already had stamped, is not stamped again.

Warnings: at the policy's `warn_at_percent` of a target, i.e. when at most (100 - p) % of it is left
in the policy's business time (the window's end is `add_business_time(now, window)`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, literal, or_, select, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import live
from helpdesk.models import PRIORITIES, SLA_TARGETS, Agent, SlaEvent, Team, Ticket, utcnow
from helpdesk.sla import policies
from helpdesk.sla.events import current_cycle
from helpdesk.sla import clock
from helpdesk.sla.clock import format_span
from helpdesk.staff import notifications

log = logging.getLogger(__name__)

FULL_EVERY = timedelta(hours=1)
CHUNK = 5000
# a breach stamped long after it fell due (the first sweep of an upgraded installation, a worker down
# for a day) is recorded and counted, but nobody is woken for it: no notification, no mail
ESCALATE_WITHIN = timedelta(hours=1)
MARGIN = timedelta(seconds=60)  # a transaction that set a due time may commit a little after our last look
_E = SlaEvent.__table__
_T = Ticket.__table__
_last: dict[str, tuple[datetime, datetime]] = {}  # database -> (previous sweep, previous full sweep)

TARGET_NAMES = {"first_response": "First response", "next_response": "Next response", "resolution": "Resolution"}


@dataclass
class Escalation:
    ticket_id: int
    target: str
    kind: str  # breached | warned
    cycle: int
    due_at: datetime | None


@dataclass(frozen=True)
class Letter:
    """An escalation by mail, for `outbox.mail_people` (the sweep's caller sends them after it)."""

    email: str
    name: str | None
    subject: str
    text: str
    ticket_id: int
    ticket_number: int


@dataclass
class SweepResult:
    breached: list[Escalation] = field(default_factory=list)
    warned: list[Escalation] = field(default_factory=list)
    notified: int = 0
    letters: list[Letter] = field(default_factory=list)
    full: bool = False


def forget_last_sweep() -> None:
    """The next sweep in this process is a full one (tests; a process starting)."""
    _last.clear()


def _running():
    return and_(_T.c.status.in_(policies.ACTIVE), _T.c.sla_paused_at.is_(None), _T.c.merged_into_id.is_(None))


def _insert(dialect: str):
    return (postgresql if dialect == "postgresql" else sqlite).insert(_E)


def _stamp_statement(dialect: str, target: str, kind: str, now: datetime, where, *, many: bool = True):
    """INSERT the `kind` SlaEvent for every ticket `where` selects, at the target's current cycle.

    The unique key skips what is stamped already. With `many` candidates (a full sweep) an anti-join
    leaves those out first, cheaper than an insert attempt each; for the few of an incremental sweep
    PostgreSQL would hash every stamped event for it (20 ms at 80,000), so there the key alone decides."""
    due = _T.c[f"{target}_due_at"]
    source = (
        select(_T.c.id, literal(target), literal(kind), current_cycle(_T.c.id, target), literal(now, _E.c.at.type), due,
               _T.c.assignee_id, _T.c.team_id, _T.c.channel, _T.c.priority)
        .where(_running(), where)
    )
    if many:
        source = source.where(~select(_E.c.id).where(_E.c.ticket_id == _T.c.id, _E.c.target == target,
                                                     _E.c.kind == kind,
                                                     _E.c.cycle == current_cycle(_T.c.id, target)).exists())
    columns = ["ticket_id", "target", "kind", "cycle", "at", "due_at", "agent_id", "team_id", "channel", "priority"]
    return (_insert(dialect).from_select(columns, source).on_conflict_do_nothing()
            .returning(_E.c.ticket_id, _E.c.target, _E.c.kind, _E.c.cycle, _E.c.due_at))


def _breach_where(target: str, now: datetime, since: datetime | None):
    due = _T.c[f"{target}_due_at"]
    where = due <= now
    if since is None:
        # every stamped breach fell due before its ticket's sla_breached_at (the latest stamp): only
        # what fell due after it can be new, a per-row test that spares a look at its events
        return and_(where, or_(_T.c.sla_breached_at.is_(None), due > _T.c.sla_breached_at))
    recent = union(
        select(_T.c.id).where(due > since, due <= now),
        select(_T.c.id).where(_T.c.updated_at > since),
        select(_E.c.ticket_id).where(_E.c.kind.in_(("restarted", "resumed")), _E.c.at > since),
    )
    return and_(where, _T.c.id.in_(recent))


def _warn_where(rules: list[policies.PolicyRule], target: str, now: datetime, since: datetime | None):
    """Due within the last (100 - p) % of the target, in the policy's business time, for each policy and
    priority; newly so since `since`. At most W business minutes are left exactly when the due time is
    at most `add_business_time(now, W)`, so each window is an index range on the due column."""
    due = _T.c[f"{target}_due_at"]
    clauses = []
    for rule in rules:
        if not rule.warn_at_percent:
            continue
        windows: dict[float, list[str]] = {}
        for priority in PRIORITIES:
            minutes = rule.minutes(target, priority)
            if minutes:
                windows.setdefault(minutes * (100 - rule.warn_at_percent) / 100, []).append(priority)
        for window, priorities in windows.items():
            upper = clock.add_business_time(now, window, rule.calendar)
            lower = now if since is None else max(now, clock.add_business_time(since, window, rule.calendar))
            clauses.append(and_(due > lower, due <= upper, _T.c.sla_policy_id == rule.id,
                                _T.c.priority.in_(priorities)))
    if not clauses:
        return None
    return and_(_T.c.assignee_id.is_not(None), or_(*clauses))


async def sweep(session: AsyncSession, *, now: datetime | None = None, full: bool | None = None) -> SweepResult:
    """One sweep: stamp, warn and notify; commits, then publishes. The mails to send are in
    `result.letters` (the actor hands them to `outbox.mail_people`: the core's SLA imports no outbox)."""
    now = now or utcnow()
    key = str(session.bind.url)
    previous, previous_full = _last.get(key, (None, None))
    if full is None:
        full = previous is None or previous_full is None or now - previous_full >= FULL_EVERY
    since = None if full else previous - MARGIN
    dialect = session.bind.dialect.name
    rules = await policies.load_policies(session)
    result = SweepResult(full=full)
    for target in SLA_TARGETS:
        rows = await session.execute(_stamp_statement(dialect, target, "breached", now, _breach_where(target, now, since),
                                                      many=full))
        result.breached += [Escalation(*row) for row in rows]
        warn = _warn_where(rules, target, now, since)
        if warn is not None:
            rows = await session.execute(_stamp_statement(dialect, target, "warned", now, warn, many=full))
            result.warned += [Escalation(*row) for row in rows]
    if result.breached:  # the tickets of this sweep's stamps (ix_sla_events_kind_at), however many
        stamped = select(_E.c.ticket_id).where(_E.c.kind == "breached", _E.c.at == now)
        await session.execute(update(Ticket).where(Ticket.id.in_(stamped))
                              .values(sla_breached_at=now).execution_options(synchronize_session=False))
    notices, result.letters = await _escalations(session, result, now)
    agents = notifications.notify(session, notices, at=now)
    result.notified = len(notices)
    await session.commit()
    _last[key] = (now, now if full else previous_full)
    _publish(result)
    notifications.announce(agents)
    if result.breached or result.warned:
        log.info("SLA sweep: %d breached, %d warned%s", len(result.breached), len(result.warned),
                 " (full)" if full else "")
    return result


async def _escalations(session: AsyncSession, result: SweepResult,
                       now: datetime) -> tuple[list[notifications.Notice], list[Letter]]:
    """Who hears of what: the assignee of a warning, the team's lead of a breach (in the console and by
    mail), for breaches that fell due within ESCALATE_WITHIN."""
    recent = [e for e in result.breached if e.due_at is None or e.due_at >= now - ESCALATE_WITHIN]
    escalations = result.warned + recent
    ids = sorted({e.ticket_id for e in escalations})
    if not ids:
        return [], []
    tickets = {}
    for start in range(0, len(ids), CHUNK):  # a catch-up sweep may stamp more than a statement takes
        tickets.update({row.id: row for row in await session.execute(
            select(Ticket.id, Ticket.number, Ticket.subject, Ticket.assignee_id, Team.lead_id)
            .outerjoin(Team, Team.id == Ticket.team_id).where(Ticket.id.in_(ids[start:start + CHUNK])))})
    people = {row.id: row for row in await session.execute(
        select(Agent.id, Agent.name, Agent.email).where(
            Agent.id.in_({t.assignee_id for t in tickets.values()} | {t.lead_id for t in tickets.values()}),
            Agent.active.is_(True)))}
    notices, letters = [], []
    for escalation in escalations:
        ticket = tickets[escalation.ticket_id]
        to = ticket.lead_id if escalation.kind == "breached" else ticket.assignee_id
        person = people.get(to)
        if person is None:
            continue
        text = _text(escalation, ticket)
        kind = "sla.breached" if escalation.kind == "breached" else "sla.warning"
        notices.append(notifications.Notice(person.id, kind, text, ticket.id))
        letters.append(Letter(person.email, person.name, text, f"{text}\n\nOpen the ticket: /console/tickets/{ticket.id}",
                              ticket.id, ticket.number or ticket.id))
    return notices, letters


def _text(escalation: Escalation, ticket) -> str:
    name = TARGET_NAMES.get(escalation.target, escalation.target)
    subject = ticket.subject if len(ticket.subject) <= 100 else ticket.subject[:99] + "…"
    if escalation.kind == "breached":
        return f"SLA breached: {name} of #{ticket.number or ticket.id} '{subject}'"
    left = ""
    if escalation.due_at is not None:
        left = f", due in {format_span((escalation.due_at - utcnow()).total_seconds() / 60)}"
    return f"SLA warning: {name} of #{ticket.number or ticket.id} '{subject}'{left}"


LIVE_TICKETS = 50  # a catch-up sweep stamps thousands: then one event says so (a datagram is 16 KiB at most)


def _publish(result: SweepResult) -> None:
    if not (result.breached or result.warned):
        return
    escalations = result.breached + result.warned
    ids = sorted({e.ticket_id for e in escalations})
    if len(ids) > LIVE_TICKETS:
        live.publish_many([(live.queue_channel("all"), {"event": "ticket.updated", "ticket_ids": []}),
                           (live.sla_channel(), {"event": "sla.changed", "breached": len(result.breached),
                                                 "warned": len(result.warned)})])
        return
    events = []
    for escalation in escalations:
        events.append((live.ticket_channel(escalation.ticket_id),
                       {"event": f"sla.{escalation.kind}", "ticket_id": escalation.ticket_id,
                        "target": escalation.target}))
        events.append((live.ticket_channel(escalation.ticket_id),
                       {"event": "ticket.updated", "ticket_id": escalation.ticket_id}))
    events.append((live.queue_channel("all"), {"event": "ticket.updated", "ticket_ids": ids}))
    events.append((live.sla_channel(), {"event": "sla.changed", "breached": sorted({e.ticket_id for e in result.breached}),
                                        "warned": sorted({e.ticket_id for e in result.warned})}))
    live.publish_many(events)
