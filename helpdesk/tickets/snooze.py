"""Snoozing a ticket: it leaves the queues until a date and time, then comes back and tells its assignee.

- `snooze` sets `snoozed_until` and puts a new or open ticket in pending, so its SLA clock pauses as
  while waiting on a customer and it leaves "Breaching soon" by that queue's partial index, with no
  filter to add. The other open queues leave out `snoozed_until IS NOT NULL`; the "Snoozed" queue
  lists the snoozed tickets, soonest back first (helpdesk/tickets/queues.py).
- `wake_due` (every 30 s, workers/schedule.py) brings back every ticket whose time has come and
  tells its assignee (unassigned: whoever snoozed it) with a notification; `unsnooze` is the agent
  doing it by hand. Back means: snooze cleared, pending -> open (the clock resumes), on hold stays.
- A customer's reply wakes a snoozed ticket too (helpdesk/inbound/ingest.py); setting its status to
  anything but pending or on hold (by hand, or "Send and mark solved") ends the snooze
  (`outbox.set_status`), so a snoozed ticket is always pending or on hold.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import OPEN_STATUSES, Agent, AuditEvent, Ticket, utcnow
from helpdesk.sla import events as sla_events
from helpdesk.sla import policies as sla_policies
from helpdesk.staff import notifications
from helpdesk.tickets import history, outbox
from helpdesk.tickets.actions import TicketError, _changed as publish_changed

MAX_AHEAD = timedelta(days=365)
PRESETS = ("1h", "tomorrow", "monday")  # in 1 hour, tomorrow 9:00, next Monday 9:00 (the agent's 9:00)
MORNING = time(9, 0)
WAKE_BATCH = 500  # tickets claimed per transaction: a Monday 9:00 with thousands due commits in steps
NOTICE_KIND = "snooze.woken"


# -- when: pure rules --------------------------------------------------------------------------------

def agent_zone(name: str = "", offset_minutes: str = "") -> tzinfo:
    """The agent's time zone as their browser names it (IANA, e.g. "Europe/Berlin"); else its UTC
    offset as JavaScript's getTimezoneOffset() gives it (minutes behind UTC); else UTC."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        behind = int(offset_minutes)
    except ValueError:
        return timezone.utc
    return timezone(timedelta(minutes=-behind)) if abs(behind) <= 14 * 60 else timezone.utc


def snooze_time(preset: str, local: str, zone: tzinfo, now: datetime) -> datetime:
    """The time a snooze form asks for, in UTC: a preset (PRESETS), or the date and time the agent
    wrote (a datetime-local value, "2026-12-02T09:00"), both in the agent's zone."""
    if preset == "1h":
        return now + timedelta(hours=1)
    if preset in ("tomorrow", "monday"):
        today = now.astimezone(zone).date()
        days = 1 if preset == "tomorrow" else (7 - today.weekday()) or 7  # a Monday goes to the next one
        return datetime.combine(today + timedelta(days=days), MORNING, tzinfo=zone).astimezone(timezone.utc)
    if preset not in ("", *PRESETS):
        raise TicketError(f"there is no snooze preset {preset[:20]!r}", field="until")
    if not local.strip():
        raise TicketError("choose a date and time, or one of the presets", field="until")
    try:
        chosen = datetime.fromisoformat(local.strip())
    except ValueError:
        raise TicketError(f"{local.strip()[:30]!r} is not a date and time", field="until") from None
    if chosen.tzinfo is None:
        chosen = chosen.replace(tzinfo=zone)
    return chosen.astimezone(timezone.utc)


def _check(ticket: Ticket, until: datetime, now: datetime) -> None:
    if ticket.merged_into_id is not None:
        raise TicketError("this ticket was merged into another: snooze that one", field="until")
    if ticket.status not in OPEN_STATUSES:
        raise TicketError(f"a {ticket.status} ticket cannot be snoozed: reopen it first", field="until")
    if until.tzinfo is None:
        raise TicketError("the time has no time zone", field="until")
    if until <= now:
        raise TicketError("that time has passed: choose one in the future", field="until")
    if until > now + MAX_AHEAD:
        raise TicketError("snooze at most a year ahead", field="until")


# -- snooze, unsnooze, wake ---------------------------------------------------------------------------

async def snooze(session: AsyncSession, ticket: Ticket, until: datetime, agent: Agent, *,
                 now: datetime | None = None) -> None:
    """Hide the ticket from the queues until `until` (in the future, at most a year ahead). Snoozing
    a snoozed ticket moves its time."""
    now = now or utcnow()
    _check(ticket, until, now)
    ticket.snoozed_until = until
    if ticket.status in ("new", "open"):
        rules = await sla_policies.load_policies(session)
        await sla_events.record(session, outbox.set_status(ticket, "pending", now, rules=rules))
    ticket.updated_at = now
    history.record(session, agent, "ticket.snoozed", ticket.id, {"until": until.isoformat()}, at=now)
    await session.commit()
    publish_changed([ticket.id])


async def unsnooze(session: AsyncSession, ticket: Ticket, agent: Agent) -> bool:
    """Bring the ticket back now; False if it was not snoozed (another tab, the sweep, got there first)."""
    if ticket.snoozed_until is None:
        return False
    now = utcnow()
    until = ticket.snoozed_until
    await sla_events.record(session, _back(ticket, now, await sla_policies.load_policies(session)))
    history.record(session, agent, "ticket.unsnoozed", ticket.id, {"until": until.isoformat()}, at=now)
    await session.commit()
    publish_changed([ticket.id])
    return True


def _back(ticket: Ticket, now: datetime, rules: list) -> list[sla_events.Stamp]:
    """Out of its snooze; a pending ticket is open again, its SLA clocks resumed (the stamps to record)."""
    ticket.snoozed_until = None
    ticket.updated_at = now
    if ticket.status == "pending":
        return outbox.set_status(ticket, "open", now, rules=rules)
    return []


async def wake_due(session: AsyncSession, now: datetime | None = None) -> list[int]:
    """Wake every ticket snoozed until `now` or before; returns their ids.

    Safe with any number of callers at once: each batch is claimed by an UPDATE whose WHERE still
    requires `snoozed_until <= now`, so a ticket is woken, written in its history and notified once.
    On PostgreSQL the candidates are locked with SKIP LOCKED (a second caller takes other tickets,
    or none, instead of waiting and deadlocking), and a row another caller woke meanwhile fails the
    re-checked WHERE; on SQLite the UPDATE takes the single write lock before it reads.
    """
    now = now or utcnow()
    woken: list[int] = []
    while True:
        claimed, back = await _wake_batch(session, now)
        woken += back
        if claimed < WAKE_BATCH:
            return woken


async def _wake_batch(session: AsyncSession, now: datetime) -> tuple[int, list[int]]:
    """Claim and wake one batch; returns how many were claimed and the ids of those back in the queues."""
    due = (select(Ticket.id).where(Ticket.snoozed_until <= now).order_by(Ticket.snoozed_until, Ticket.id)
           .limit(WAKE_BATCH).with_for_update(skip_locked=True))
    # the claim leaves snoozed_until as it was, so RETURNING tells each ticket's snooze time
    claimed = dict((await session.execute(
        update(Ticket).where(Ticket.snoozed_until <= now, Ticket.id.in_(due)).values(updated_at=now)
        .returning(Ticket.id, Ticket.snoozed_until).execution_options(synchronize_session=False)
    )).all())
    if not claimed:
        await session.commit()
        return 0, []
    tickets = list(await session.scalars(select(Ticket).where(Ticket.id.in_(claimed)).order_by(Ticket.id)
                                         .execution_options(populate_existing=True)))
    snoozers = await _snoozers(session, [t.id for t in tickets if t.assignee_id is None])
    notices, woken, stamps = [], [], []
    rules = await sla_policies.load_policies(session)
    for ticket in tickets:
        if ticket.status not in OPEN_STATUSES or ticket.merged_into_id is not None:
            ticket.snoozed_until = None  # solved or merged meanwhile: nothing to come back to
            continue
        stamps += _back(ticket, now, rules)
        woken.append(ticket.id)
        history.record(session, None, "ticket.woken", ticket.id, {"until": claimed[ticket.id].isoformat()}, at=now)
        recipient = ticket.assignee_id or snoozers.get(ticket.id)
        if recipient is not None:
            notices.append(notifications.Notice(recipient, NOTICE_KIND, _back_text(ticket), ticket.id))
    agents = notifications.notify(session, notices, at=now)
    await sla_events.record(session, stamps)
    await session.commit()
    publish_changed(woken)
    notifications.announce(agents)
    return len(claimed), woken


def _back_text(ticket: Ticket) -> str:
    subject = ticket.subject if len(ticket.subject) <= 120 else ticket.subject[:119] + "…"
    return f"#{ticket.number or ticket.id} '{subject}' is back from snooze"


async def _snoozers(session: AsyncSession, ticket_ids: list[int]) -> dict[int, int]:
    """Who snoozed each of these (unassigned) tickets last: they get its notification."""
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(AuditEvent.object_id, AuditEvent.agent_id)
        .where(AuditEvent.object_type == "ticket", AuditEvent.object_id.in_(ticket_ids),
               AuditEvent.action == "ticket.snoozed", AuditEvent.agent_id.is_not(None))
        .order_by(AuditEvent.id)
    )
    return dict(rows.all())  # in id order: the newest snooze wins
