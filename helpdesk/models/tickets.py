"""Tickets, their messages and attachments, participants and tags."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.models.base import Base, utcnow

STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
OPEN_STATUSES = ("new", "open", "pending", "on_hold")
# Written out as SQL, not bound parameters, so the planner can match the partial index below.
OPEN_STATUS_SQL = "tickets.status IN ('new', 'open', 'pending', 'on_hold')"
ACTIVE_STATUS_SQL = "tickets.status IN ('new', 'open')"
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "chat", "whatsapp", "messenger", "instagram", "telegram")  # where a ticket can come from
CHANNEL_NAMES = {"email": "Email", "chat": "Chat", "whatsapp": "WhatsApp", "messenger": "Messenger",
                 "instagram": "Instagram", "telegram": "Telegram"}  # as people write them
DIRECTIONS = ("inbound", "outbound", "note")
DELIVERY_STATUSES = ("queued", "sending", "sent", "failed")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_updated", "status", "updated_at"),
        Index("ix_tickets_customer_created", "customer_id", "created_at"),
        Index("ix_tickets_thread", "channel", "platform_thread_id"),
        # console queues page newest-first by keyset (updated_at, id): "all open" and "my open"
        Index("ix_tickets_updated", "updated_at", "id"),
        Index("ix_tickets_assignee_updated", "assignee_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int | None] = mapped_column(BigInteger, unique=True)  # shown as #N
    subject: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(10), default="new")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    channel: Mapped[str] = mapped_column(String(20))  # origin channel; replies go out on it
    account: Mapped[str | None] = mapped_column(String(320))  # mailbox / page that received it
    platform_thread_id: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id"))
    first_response_due_at: Mapped[datetime | None] = mapped_column(index=True)
    next_response_due_at: Mapped[datetime | None] = mapped_column(index=True)
    resolution_due_at: Mapped[datetime | None] = mapped_column(index=True)
    first_responded_at: Mapped[datetime | None]
    sla_paused_at: Mapped[datetime | None]
    sla_breached_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    last_outbound_at: Mapped[datetime | None]
    solved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # hidden from the queues until then; the snooze sweep wakes it and tells the assignee
    snoozed_until: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    messages: Mapped[list["Message"]] = relationship(back_populates="ticket", order_by="Message.id")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_messages_ticket", "ticket_id", "id"),
        Index("ix_messages_delivery", "delivery_status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound | note
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(500))
    account: Mapped[str | None] = mapped_column(String(320))
    sender_kind: Mapped[str | None] = mapped_column(String(32))
    sender_value: Mapped[str | None] = mapped_column(String(320))
    sender_name: Mapped[str | None] = mapped_column(String(200))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    subject: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text, default="")
    full_text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    cc: Mapped[list | None]  # [{"kind", "value", "name"}]
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    references: Mapped[list | None]
    auto_generated: Mapped[bool] = mapped_column(default=False)
    raw_ref: Mapped[str | None] = mapped_column(String(200))
    defects: Mapped[list | None]
    delivery_status: Mapped[str | None] = mapped_column(String(10))  # outbound only
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivery_attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # what the platform reported later (helpdesk/tickets/receipts.py): delivered and read receipts of
    # an outbound message; the customer's reaction to any message of the conversation
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    reaction: Mapped[str | None] = mapped_column(String(32))
    # a WhatsApp template reply (outside the 24-hour window): {"name", "language", "parameters"}
    template: Mapped[dict | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="message", order_by="Attachment.id", cascade="all, delete-orphan"
    )


class Attachment(Base):
    """A file of a message; the bytes live once on disk under their sha256."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(500))
    content_id: Mapped[str | None] = mapped_column(String(500))
    inline: Mapped[bool] = mapped_column(default=False)
    message: Mapped[Message] = relationship(back_populates="attachments")


class TicketParticipant(Base):
    """Cc'd people of a ticket: they may reply by subject token and get reply-all copies."""

    __tablename__ = "ticket_participants"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))


class TicketTag(Base):
    __tablename__ = "ticket_tags"
    __table_args__ = (UniqueConstraint("ticket_id", "tag"), Index("ix_ticket_tags_tag", "tag"))

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(50))


class CannedResponse(Base):
    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text)


class Draft(Base):
    """A reply or note being written: one per ticket and agent, kept server-side for any device."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("ticket_id", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(10), default="reply")  # reply | note
    body: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
