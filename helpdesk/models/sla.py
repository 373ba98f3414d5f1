"""Business calendars and SLA policies; the clock itself is helpdesk/sla.py."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.models.base import Base, utcnow


class BusinessCalendar(Base):
    __tablename__ = "business_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": [["09:00", "17:00"]], ...}; a missing day is closed
    weekly_hours: Mapped[dict]
    holidays: Mapped[list]  # ["2026-12-25", ...]: explicit dates, on top of the country's
    holiday_country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166 code for the `holidays` package
    holiday_region: Mapped[str | None] = mapped_column(String(10))  # its subdivision, e.g. "BY"


class SlaPolicy(Base):
    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(default=0)  # first matching policy wins
    match_priority: Mapped[str | None] = mapped_column(String(10))
    match_channel: Mapped[str | None] = mapped_column(String(20))
    match_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    match_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendars.id"))
    first_response_minutes: Mapped[int | None]
    next_response_minutes: Mapped[int | None]
    resolution_minutes: Mapped[int | None]
    match_tags: Mapped[list | None]  # every one of these tags; none: any
    # per priority, overriding the three columns above: {"urgent": {"first_response": 30, ...}}
    targets: Mapped[dict | None]
    warn_at_percent: Mapped[int | None]  # warn the assignee at this share of a target; none: no warning
    active: Mapped[bool] = mapped_column(default=True)


SLA_TARGETS = ("first_response", "next_response", "resolution")
SLA_EVENT_KINDS = ("started", "paused", "resumed", "warned", "breached", "met", "restarted")


class SlaEvent(Base):
    """What happened to a ticket's SLA clocks: for its history, the board's attainment, and so that
    each warning and breach is acted on exactly once (the unique key; next response counts cycles)."""

    __tablename__ = "sla_events"
    __table_args__ = (
        UniqueConstraint("ticket_id", "target", "kind", "cycle"),
        Index("ix_sla_events_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(20))  # one of SLA_TARGETS
    kind: Mapped[str] = mapped_column(String(10))  # one of SLA_EVENT_KINDS
    cycle: Mapped[int] = mapped_column(default=0)  # next response: the n-th customer message awaiting an answer
    at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None]
    business_minutes: Mapped[int | None]  # time taken (met, breached) in business minutes
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))  # the assignee then
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    channel: Mapped[str | None] = mapped_column(String(20))
    priority: Mapped[str | None] = mapped_column(String(10))
