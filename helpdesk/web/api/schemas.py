"""The API's JSON shapes (msgspec Structs): what each endpoint takes and gives, with the examples
the OpenAPI schema at /schema shows. Names are snake_case; times are ISO 8601 in UTC; money is a
decimal string ("49.90"), never a float."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

Id = Annotated[int, Meta(ge=1, le=2**31 - 1, examples=[42])]
Time = Annotated[datetime, Meta(examples=["2026-11-30T14:05:00Z"])]
Money = Annotated[str, Meta(pattern=r"^-?\d{1,10}(\.\d{1,2})?$", examples=["49.90"])]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
Name = Annotated[str, Meta(max_length=200, examples=["Ann Example"])]
IdentityKind = Annotated[str, Meta(pattern=r"^[a-z_]{1,32}$", examples=["email"],
                                   description="email, phone, whatsapp, messenger, instagram, telegram, chat, ...")]
IdentityValue = Annotated[str, Meta(min_length=1, max_length=320, examples=["ann@example.com"])]
Status = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Tag = Annotated[str, Meta(pattern=r"^[\w][\w\-.:/]{0,49}$", examples=["vip"])]


class Page(Struct):
    """One page of a list. `next` is the URL of the next page (null on the last); it carries an
    opaque cursor, so a walk sees each row once however rows are added meanwhile."""

    data: list[Any]
    next: Annotated[str, Meta(examples=["/api/v1/customers?limit=50&cursor=djE6NDI"])] | None = None


# customers and identities

class IdentityOut(Struct):
    id: Id
    kind: IdentityKind
    value: IdentityValue
    display_name: Name | None
    verified: bool
    created_at: Time


class IdentityIn(Struct):
    """An identity as the caller knows it; it is stored normalised (lower-cased email, E.164 phone)."""

    kind: IdentityKind
    value: IdentityValue
    display_name: Name | None = None


class OrganizationRef(Struct):
    id: Id
    name: Annotated[str, Meta(examples=["Leaf & Kettle GmbH"])]


class AttributeOut(Struct):
    key: Annotated[str, Meta(examples=["plan"])]
    type: Annotated[str, Meta(examples=["text"], description="text, number, date, bool or url")]
    value: Annotated[Any, Meta(examples=["gold"])]


class AttributeIn(Struct):
    key: Annotated[str, Meta(min_length=1, max_length=100, examples=["plan"])]
    type: Literal["text", "number", "date", "bool", "url"]
    value: Annotated[str | int | float | bool, Meta(examples=["gold"])]


class MoneyTotal(Struct):
    currency: Currency
    total: Money


class OrderItemOut(Struct):
    id: Id
    external_id: str | None
    sku: Annotated[str, Meta(examples=["TEA-EARLGREY-250"])] | None
    title: Annotated[str, Meta(examples=["Earl Grey, 250 g"])]
    quantity: Annotated[int, Meta(examples=[2])]
    unit_price: Money


class OrderOut(Struct):
    id: Id
    customer_id: Id
    source: Annotated[str, Meta(examples=["shopify"])]
    external_id: Annotated[str, Meta(examples=["5544332211"])]
    number: Annotated[str, Meta(examples=["#1042"])]
    status: Annotated[str, Meta(examples=["paid"])]
    currency: Currency
    total: Money
    placed_at: Time
    updated_at: Time | None
    items: list[OrderItemOut]


class OrderSummary(Struct):
    """What the customer bought: the count, lifetime value per currency (refunds and cancellations
    left out) and the latest orders."""

    count: int
    lifetime_value: list[MoneyTotal]
    recent: list[OrderOut]


class CustomerOut(Struct):
    id: Id
    name: Name | None
    notes: str | None
    organization: OrganizationRef | None
    identities: list[IdentityOut]
    attributes: list[AttributeOut]
    created_at: Time
    updated_at: Time
    orders: OrderSummary | None = None  # in a single customer's answer only


class CustomerCreate(Struct, forbid_unknown_fields=True):
    identities: Annotated[list[IdentityIn], Meta(min_length=1, max_length=20)]
    name: Name | None = None
    notes: Annotated[str, Meta(max_length=10_000)] | None = None
    organization_id: Id | None = None
    attributes: Annotated[list[AttributeIn], Meta(max_length=50)] = []


class CustomerUpdate(Struct, forbid_unknown_fields=True):
    """A partial update: a field left out stays as it is; null clears it."""

    name: Name | None | msgspec.UnsetType = msgspec.UNSET
    notes: Annotated[str, Meta(max_length=10_000)] | None | msgspec.UnsetType = msgspec.UNSET
    organization_id: Id | None | msgspec.UnsetType = msgspec.UNSET
    attributes: Annotated[list[AttributeIn], Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    remove_attributes: Annotated[list[str], Meta(max_length=50)] = []


# organizations

class OrganizationOut(Struct):
    id: Id
    name: Annotated[str, Meta(examples=["Leaf & Kettle GmbH"])]
    domains: Annotated[list[str], Meta(examples=[["leafandkettle.com"]])]
    created_at: Time


class OrganizationCreate(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200, examples=["Leaf & Kettle GmbH"])]
    domains: Annotated[list[Annotated[str, Meta(max_length=253)]], Meta(max_length=20,
                                                                        examples=[["leafandkettle.com"]])] = []


class OrganizationUpdate(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    add_domains: Annotated[list[Annotated[str, Meta(max_length=253)]], Meta(max_length=20)] = []
    remove_domains: Annotated[list[Annotated[str, Meta(max_length=253)]], Meta(max_length=20)] = []


# orders

class OrderItemIn(Struct):
    title: Annotated[str, Meta(min_length=1, max_length=300, examples=["Earl Grey, 250 g"])]
    unit_price: Money
    quantity: Annotated[int, Meta(ge=0, le=1_000_000, examples=[2])] = 1
    sku: Annotated[str, Meta(max_length=100, examples=["TEA-EARLGREY-250"])] | None = None
    external_id: Annotated[str, Meta(max_length=100)] | None = None


class OrderPut(Struct, forbid_unknown_fields=True):
    """An order as the shop has it now. `customer_id`, or `email`/`phone` (matched by identity
    resolution; a customer is created when nobody holds them)."""

    number: Annotated[str, Meta(min_length=1, max_length=50, examples=["#1042"])]
    status: Annotated[str, Meta(min_length=1, max_length=30, examples=["paid"])]
    currency: Currency
    total: Money
    placed_at: Time
    updated_at: Time | None = None
    customer_id: Id | None = None
    email: Annotated[str, Meta(max_length=320, examples=["ann@example.com"])] | None = None
    phone: Annotated[str, Meta(max_length=50, examples=["+49 151 1234567"])] | None = None
    name: Name | None = None
    items: Annotated[list[OrderItemIn], Meta(max_length=500)] = []


# tickets and messages

class MessageOut(Struct):
    id: Id
    direction: Annotated[str, Meta(examples=["inbound"], description="inbound, outbound or note")]
    channel: Annotated[str, Meta(examples=["email"])]
    sender_name: Name | None
    agent_id: Id | None
    subject: str | None
    text: Annotated[str, Meta(examples=["My parcel has not arrived."])]
    delivery_status: Annotated[str, Meta(examples=["queued"],
                                                description="outbound only: queued, sending, sent, failed")] | None
    created_at: Time


class TicketOut(Struct):
    id: Id
    number: Annotated[int | None, Meta(examples=[1042])]
    subject: Annotated[str, Meta(examples=["Where is my order?"])]
    status: Status
    priority: Priority
    channel: Annotated[str, Meta(examples=["email"])]
    customer_id: Id
    organization_id: Id | None
    assignee_id: Id | None
    team_id: Id | None
    tags: list[Tag]
    created_at: Time
    updated_at: Time
    merged_into_id: Id | None = None
    messages: list[MessageOut] | None = None  # in a single ticket's answer only


class TicketCreate(Struct, forbid_unknown_fields=True):
    """A ticket opened for a customer on their email channel: `text` is the customer's first
    message (inbound), so replies go to the customer by email."""

    subject: Annotated[str, Meta(min_length=1, max_length=500, examples=["Where is my order?"])]
    text: Annotated[str, Meta(min_length=1, max_length=100_000, examples=["My parcel has not arrived."])]
    customer_id: Id | None = None
    email: Annotated[str, Meta(max_length=320, examples=["ann@example.com"])] | None = None
    name: Name | None = None
    priority: Priority | None = None
    tags: Annotated[list[Tag], Meta(max_length=20)] = []
    external_id: Annotated[str, Meta(max_length=200, examples=["crm-case-7781"],
                                            description="your id for it: sending it again answers the same ticket")] | None = None


class TicketUpdate(Struct, forbid_unknown_fields=True):
    """A partial update; `assignee_id`/`team_id` null unassigns. `tags` replaces all tags;
    `add_tags`/`remove_tags` change some."""

    status: Status | None = None
    priority: Priority | None = None
    assignee_id: Id | None | msgspec.UnsetType = msgspec.UNSET
    team_id: Id | None | msgspec.UnsetType = msgspec.UNSET
    tags: Annotated[list[Tag], Meta(max_length=50)] | None = None
    add_tags: Annotated[list[Tag], Meta(max_length=50)] = []
    remove_tags: Annotated[list[Tag], Meta(max_length=50)] = []


class MessageCreate(Struct, forbid_unknown_fields=True):
    """A reply (sent to the customer through the outbox) or an internal note."""

    kind: Literal["reply", "note"]
    text: Annotated[str, Meta(min_length=1, max_length=100_000, examples=["Your parcel left our warehouse today."])]
    status_after: Status | None = None  # a reply only: the ticket's status once it is sent, e.g. "pending"
