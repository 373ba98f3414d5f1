"""Which SLA policy a ticket falls under, and the due times it sets, paused and resumed."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.sla import clock as sla
from helpdesk.models import BusinessCalendar, SlaPolicy, Ticket


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
    calendar: sla.Calendar | None

    def matches(self, ticket: Ticket) -> bool:
        return (
            (self.match_priority is None or self.match_priority == ticket.priority)
            and (self.match_channel is None or self.match_channel == ticket.channel)
            and (self.match_organization_id is None or self.match_organization_id == ticket.organization_id)
            and (self.match_team_id is None or self.match_team_id == ticket.team_id)
        )


# Policies change rarely and are read for every new ticket: a short cache saves a query per ingest.
_CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, list[PolicyRule]]] = {}


def forget_cached_policies() -> None:
    _cache.clear()


async def load_policies(session: AsyncSession) -> list[PolicyRule]:
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
            match_priority=policy.match_priority,
            match_channel=policy.match_channel,
            match_organization_id=policy.match_organization_id,
            match_team_id=policy.match_team_id,
            first_response_minutes=policy.first_response_minutes,
            next_response_minutes=policy.next_response_minutes,
            resolution_minutes=policy.resolution_minutes,
            calendar=sla.calendar_from_row(cal.timezone, cal.weekly_hours, cal.holidays) if cal else None,
        )
        for policy, cal in rows
    ]
    _cache[key] = (time.monotonic(), rules)
    return rules


async def apply_policy(session: AsyncSession, ticket: Ticket, start: datetime) -> PolicyRule | None:
    """Pick the first matching policy and set the ticket's first-response and resolution due times."""
    return apply_rules(await load_policies(session), ticket, start)


def apply_rules(rules: list[PolicyRule], ticket, start: datetime) -> PolicyRule | None:
    """`apply_policy` with the rules already loaded; `ticket` is anything with the Ticket attributes."""
    for rule in rules:
        if rule.matches(ticket):
            ticket.sla_policy_id = rule.id
            if rule.first_response_minutes is not None:
                ticket.first_response_due_at = sla.add_business_time(start, rule.first_response_minutes, rule.calendar)
            if rule.resolution_minutes is not None:
                ticket.resolution_due_at = sla.add_business_time(start, rule.resolution_minutes, rule.calendar)
            return rule
    return None


def customer_replied(rules: list[PolicyRule], ticket, at: datetime) -> None:
    """A customer message resumes a paused clock and, after our answer, starts the next-response
    clock. `ticket` is anything with the Ticket attributes."""
    rule = next((r for r in rules if r.id == ticket.sla_policy_id), None) if ticket.sla_policy_id is not None else None
    if ticket.sla_paused_at is not None:
        paused_for = at - ticket.sla_paused_at
        if paused_for.total_seconds() > 0:
            if ticket.resolution_due_at is not None:
                ticket.resolution_due_at += paused_for
        ticket.sla_paused_at = None
    if rule and rule.next_response_minutes is not None and ticket.first_responded_at is not None:
        if ticket.next_response_due_at is None:
            ticket.next_response_due_at = sla.add_business_time(at, rule.next_response_minutes, rule.calendar)


def agent_responded(ticket: Ticket, at: datetime) -> None:
    # a met target leaves the breach index: "what breaches next" only sees running clocks
    if ticket.first_responded_at is None:
        ticket.first_responded_at = at
    ticket.first_response_due_at = None
    ticket.next_response_due_at = None


def paused(ticket: Ticket, at: datetime) -> None:
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = at


def resumed(ticket: Ticket, at: datetime) -> None:
    """Leaving pending (by hand, or a snooze ending) resumes a paused clock: the resolution target
    moves on by the time it was paused, as after a customer's reply."""
    if ticket.sla_paused_at is not None:
        if ticket.resolution_due_at is not None:
            ticket.resolution_due_at += at - ticket.sla_paused_at
        ticket.sla_paused_at = None


async def calendars(session: AsyncSession) -> list[BusinessCalendar]:
    """Every business calendar, by name (what a chat channel's business hours can be)."""
    return list(await session.scalars(select(BusinessCalendar).order_by(BusinessCalendar.name)))
