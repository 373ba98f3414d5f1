"""Shopify's order webhook: the signature check and the parser (its Order resource to `OrderIn`).

Shopify signs a delivery with `X-Shopify-Hmac-Sha256`: base64 of HMAC-SHA256 over the raw body,
keyed with the app's webhook secret (shopify.dev, "Verify webhooks"). The body of `orders/create`
and `orders/updated` is the Order resource itself, not wrapped in {"order": ...}.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from helpdesk.channel import SignatureInvalid, UnreadablePayload
from helpdesk.customers.orders import ItemIn, OrderIn

SOURCE = "shopify"
ORDER_TOPICS = ("orders/create", "orders/updated")


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def verify(secret: str, body: bytes, given: str | None) -> None:
    """Raises SignatureInvalid unless `given` is the body's signature with `secret` (constant time)."""
    if not given:
        raise SignatureInvalid("X-Shopify-Hmac-Sha256 is missing")
    if not hmac.compare_digest(signature(secret, body).encode(), given.strip().encode()):
        raise SignatureInvalid("X-Shopify-Hmac-Sha256 does not match the body signed with the shop's secret")


def parse(body: bytes) -> OrderIn:
    """The order a delivery describes; raises UnreadablePayload (with what is wrong) for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise UnreadablePayload(f"the body is not JSON: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("order"), dict):
        data = data["order"]  # the REST API's wrapper, as in Shopify's examples: accepted too
    if not isinstance(data, dict):
        raise UnreadablePayload("the body is not a Shopify order object")
    if data.get("id") in (None, ""):
        raise UnreadablePayload("the order has no id")
    customer = data.get("customer") if isinstance(data.get("customer"), dict) else {}
    billing = data.get("billing_address") if isinstance(data.get("billing_address"), dict) else {}
    name = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p) or billing.get("name")
    placed_at = _when(data.get("created_at"), "created_at")
    if placed_at is None:
        raise UnreadablePayload("the order has no created_at")
    items = data.get("line_items") or []
    if not isinstance(items, list):
        raise UnreadablePayload("line_items is not a list")
    return OrderIn(
        source=SOURCE, external_id=str(data["id"]),
        number=str(data.get("name") or data.get("order_number") or data["id"]),
        status=status_of(data), currency=str(data.get("currency") or "")[:3].upper() or "XXX",
        total=_money(data.get("total_price"), "total_price"), placed_at=placed_at,
        updated_at=_when(data.get("updated_at"), "updated_at"),
        email=customer.get("email") or data.get("email") or data.get("contact_email"),
        phone=customer.get("phone") or data.get("phone") or _international(billing.get("phone")),
        name=name, items=tuple(_item(item, n) for n, item in enumerate(items, 1)))


def _international(phone) -> str | None:
    """An address's phone only when it has its country code: "555-625-1199" could be anywhere's."""
    return phone if isinstance(phone, str) and phone.strip().startswith("+") else None


def status_of(data: dict) -> str:
    """One status from Shopify's three: cancelled, then refunds, then fulfilment, then payment."""
    if data.get("cancelled_at"):
        return "cancelled"
    financial = data.get("financial_status") or ""
    if financial in ("refunded", "partially_refunded", "voided"):
        return financial
    if data.get("fulfillment_status") == "fulfilled":
        return "fulfilled"
    if data.get("fulfillment_status") == "partial":
        return "partially_fulfilled"
    return financial or "open"


def _item(item, n: int) -> ItemIn:
    if not isinstance(item, dict):
        raise UnreadablePayload(f"line item {n} is not an object")
    try:
        quantity = int(item.get("quantity") or 1)
    except (TypeError, ValueError):
        raise UnreadablePayload(f"line item {n}: quantity is not a number") from None
    return ItemIn(title=str(item.get("title") or item.get("name") or item.get("sku") or "item"),
                  quantity=quantity, unit_price=_money(item.get("price"), f"line item {n} price"),
                  sku=item.get("sku") or None, external_id=str(item["id"]) if item.get("id") is not None else None)


def _money(value, what: str) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        raise UnreadablePayload(f"{what} is not an amount: {value!r}") from None


def _when(value, what: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise UnreadablePayload(f"{what} is not a date and time: {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
