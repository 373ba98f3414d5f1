"""Audit events and the quarantine of inbound data that could not be ingested."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.models.base import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # a ticket's history, shown in its conversation, reads its events in order
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    action: Mapped[str] = mapped_column(String(50))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int | None]
    data: Mapped[dict | None]


class QuarantinedMessage(Base):
    """Never lose an inbound message: what failed to ingest waits here with its reason."""

    __tablename__ = "quarantined_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    account: Mapped[str | None] = mapped_column(String(320))
    raw_ref: Mapped[str] = mapped_column(String(200))  # content-addressed raw bytes
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    resolved_at: Mapped[datetime | None]
    resolved_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class Notification(Base):
    """Something an agent should see: a snoozed ticket is back, an SLA warning. Read or not."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_agent_unread", "agent_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
