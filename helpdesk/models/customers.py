"""Customers, their identities on every channel, organizations and orders."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.models.base import Base, utcnow


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    domains: Mapped[list["OrganizationDomain"]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )


class OrganizationDomain(Base):
    __tablename__ = "organization_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    organization: Mapped[Organization] = relationship(back_populates="domains")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    # A merged customer stays as a tombstone pointing at the survivor, so old links resolve.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # custom attributes, typed: {"plan": {"type": "text", "value": "gold"}, "vip_since": {"type": "date", ...}}
    attributes: Mapped[dict | None]
    erased_at: Mapped[datetime | None]  # GDPR erasure: personal data anonymised, the record kept
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    identities: Mapped[list["CustomerIdentity"]] = relationship(
        back_populates="customer", order_by="CustomerIdentity.id"
    )
    organization: Mapped[Organization | None] = relationship()


class CustomerIdentity(Base):
    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # email, phone, whatsapp, messenger, chat, ...
    value: Mapped[str] = mapped_column(String(320))  # normalised
    display_name: Mapped[str | None] = mapped_column(String(200))
    verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    customer: Mapped[Customer] = relationship(back_populates="identities")


class IdentityConflict(Base):
    """An identity that one source says belongs to one customer while another customer holds it
    (an order's email already on someone else, an API call adding a phone another customer has):
    flagged for an agent to decide, never merged on its own."""

    __tablename__ = "identity_conflicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(320))
    holder_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)  # who has the identity
    claimant_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)  # who it was claimed for
    source: Mapped[str] = mapped_column(String(50))  # api, shopify, csv, ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))


class DuplicateDismissal(Base):
    """Two customers an agent said are not the same person: no longer suggested as duplicates."""

    __tablename__ = "duplicate_dismissals"
    __table_args__ = (UniqueConstraint("customer_id", "other_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))  # the lower id of the two
    other_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_orders_customer_placed", "customer_id", "placed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    source: Mapped[str] = mapped_column(String(50))  # "shopify", "api", "csv", "demo"
    external_id: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    placed_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]  # as the source last changed it: an older update never overwrites a newer
    items: Mapped[list["OrderItem"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(100))  # the source's line item id
    sku: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(default=1)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    order: Mapped[Order] = relationship(back_populates="items")
