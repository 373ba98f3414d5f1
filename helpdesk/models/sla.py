"""Business calendars and SLA policies; the clock itself is helpdesk/sla.py."""
from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.models.base import Base


class BusinessCalendar(Base):
    __tablename__ = "business_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": [["09:00", "17:00"]], ...}; a missing day is closed
    weekly_hours: Mapped[dict]
    holidays: Mapped[list]  # ["2026-12-25", ...]


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
    active: Mapped[bool] = mapped_column(default=True)
