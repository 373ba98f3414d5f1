"""A known set of tickets with running SLA clocks and of sla_events, for the SLA board's tests: what
each number on the board must be is written down next to the data that makes it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from helpdesk.models import SlaEvent, Ticket


@dataclass
class Seeded:
    now: datetime
    tickets: dict[str, int] = field(default_factory=dict)  # label -> ticket id


def today_start(now: datetime) -> datetime:
    return datetime.combine(now.date(), datetime.min.time(), timezone.utc)


async def seed_board(session, *, customer_id: int, team_id: int, agents: dict[str, int], now: datetime) -> Seeded:
    """Tickets (with `agents` "agent" and "lead") and events:
    - breached now: overdue (first response 2 h ago, Bea, Support, email, urgent), late_reply (next response
      10 min ago, Lena, Support, email), stale_chat (resolution a day ago, Bea, no team, chat); 3 in all,
      2 of them Bea's, 2 in Support, 1 on chat;
    - breaching within the hour: soon (resolution in 30 min, Bea, Support); later (first response in 3 h,
      unassigned) is upcoming but not soon; paused (pending, first response 5 h ago) counts for nobody.
    - events: first response met on time today (20m) and breached today; resolution met today (300m, chat,
      no team); 3 days ago first response met on time (40m), breached, and met late (90m: the same miss);
      20 days ago next response met (10m); 40 days ago a first response met (outside every window).
    """
    seeded = Seeded(now=now)
    bea, lena = agents["agent"], agents["lead"]

    def ticket(label, *, status="open", assignee=None, team=team_id, channel="email", priority="normal", **due):
        row = Ticket(subject=f"SLA {label}", status=status, priority=priority, channel=channel,
                     customer_id=customer_id, assignee_id=assignee, team_id=team, created_at=now - timedelta(days=2),
                     updated_at=now - timedelta(hours=1), **due)
        session.add(row)
        return label, row

    rows = [
        ticket("overdue", assignee=bea, priority="urgent", first_response_due_at=now - timedelta(hours=2)),
        ticket("late_reply", status="new", assignee=lena, next_response_due_at=now - timedelta(minutes=10)),
        ticket("stale_chat", assignee=bea, team=None, channel="chat", resolution_due_at=now - timedelta(days=1)),
        ticket("soon", assignee=bea, resolution_due_at=now + timedelta(minutes=30)),
        ticket("later", first_response_due_at=now + timedelta(hours=3)),
        ticket("paused", status="pending", first_response_due_at=now - timedelta(hours=5),
               sla_paused_at=now - timedelta(hours=6)),
        ticket("done", status="solved"),
    ]
    await session.flush()
    for label, row in rows:
        row.number = row.id
        seeded.tickets[label] = row.id
    t = seeded.tickets
    today = today_start(now) + (now - today_start(now)) / 2  # today, in the past, whenever the test runs
    three_days, twenty_days, forty_days = now - timedelta(days=3), now - timedelta(days=20), now - timedelta(days=40)

    def event(label, target, kind, at, *, due, minutes=None, team=team_id, channel="email", priority="normal",
              agent=bea):
        session.add(SlaEvent(ticket_id=t[label], target=target, kind=kind, cycle=0, at=at, due_at=due,
                             business_minutes=minutes, agent_id=agent, team_id=team, channel=channel, priority=priority))

    event("done", "first_response", "met", today, due=today + timedelta(hours=1), minutes=20, priority="urgent")
    event("overdue", "first_response", "breached", today, due=today, priority="urgent")
    event("stale_chat", "resolution", "met", today, due=today + timedelta(hours=2), minutes=300, team=None,
          channel="chat")
    event("soon", "first_response", "met", three_days, due=three_days + timedelta(hours=1), minutes=40)
    event("late_reply", "first_response", "breached", three_days - timedelta(hours=1), due=three_days - timedelta(hours=1),
          agent=lena)
    event("late_reply", "first_response", "met", three_days, due=three_days - timedelta(hours=1), minutes=90, agent=lena)
    event("later", "next_response", "met", twenty_days, due=twenty_days + timedelta(hours=1), minutes=10, agent=None)
    event("paused", "first_response", "met", forty_days, due=forty_days + timedelta(hours=1), minutes=5)
    await session.commit()
    return seeded
