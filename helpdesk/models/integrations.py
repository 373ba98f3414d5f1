"""What other systems use to talk to the helpdesk: API tokens, shops that send order webhooks, and
the outbound webhooks integrations subscribe to (helpdesk/integrations/)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.models.base import Base, utcnow


class ApiToken(Base):
    """A token for the REST API (/api/v1). Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # the integration it is for
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the whole token
    prefix: Mapped[str] = mapped_column(String(16))  # its first characters: how a person tells tokens apart
    scopes: Mapped[list] = mapped_column(default=list)  # ["read"] or ["read", "write"]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Shop(Base):
    """A shop that sends its orders by webhook (Shopify's format): found by its domain
    (`X-Shopify-Shop-Domain`), checked with its secret (stored encrypted, helpdesk/secrets.py)."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(20), default="shopify")
    domain: Mapped[str] = mapped_column(String(255), unique=True)  # e.g. leaf-and-kettle.myshopify.com
    webhook_secret: Mapped[str] = mapped_column(String(500))  # encrypted
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_webhook_at: Mapped[datetime | None]


class WebhookEndpoint(Base):
    """An integration's subscription to our events (ticket.created, ticket.updated, message.created,
    customer.merged); deliveries are signed with its secret (stored encrypted)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(1000))
    description: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(500))  # encrypted
    events: Mapped[list] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event to one endpoint, through the outbox pattern: committed with the change that caused
    it as `queued`, sent by a worker, retried with back-off, its last answer kept for the admin."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict]
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued | sending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_response: Mapped[str | None] = mapped_column(Text)  # the first 2,000 characters of the answer
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
