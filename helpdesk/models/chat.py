"""Chat channels (one per widget embed) and their visitors' conversations; see docs/chat.md.

A conversation's messages are its ticket's messages: the chat adds who the visitor is and how far
each side has read, nothing that a ticket already holds."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.models.base import Base, utcnow


class ChatChannel(Base):
    __tablename__ = "chat_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)  # public: data-channel="KEY"
    name: Mapped[str] = mapped_column(String(100))
    colour: Mapped[str] = mapped_column(String(7), default="#0b5cad")
    greeting: Mapped[str] = mapped_column(String(500), default="Hi! How can we help?")
    allowed_origins: Mapped[list]  # ["https://shop.example"]; empty: no page may embed it
    prechat_fields: Mapped[list]  # a subset of ["name", "email"]
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendars.id"))  # none: always open
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))  # who answers; none: every agent
    identity_secret: Mapped[str | None] = mapped_column(String(500))  # encrypted with the instance secret
    enforce_verification: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatConversation(Base):
    __tablename__ = "chat_conversations"
    __table_args__ = (UniqueConstraint("ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)  # the visitor token's subject
    channel_id: Mapped[int] = mapped_column(ForeignKey("chat_channels.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))  # set by the first message
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    verified: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    origin: Mapped[str | None] = mapped_column(String(300))
    visitor_last_read_id: Mapped[int] = mapped_column(default=0)
    agent_last_read_id: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
