"""`POST /webhooks/shopify` (channels/shop): signed order deliveries upserted through the one order
path; wrong or missing signatures refused with nothing stored; replays stored once; malformed JSON
answered 400 with what is wrong; other topics ignored."""
from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from channels.shop import endpoints as shop_endpoints
from channels.shop import shopify
from helpdesk.app import create_app
from helpdesk.customers.shops import create_shop, directory
from helpdesk.models import Customer, CustomerIdentity, Order, OrderItem, Shop
from helpdesk.web.public import PublicEndpoints
from tests.conftest import CORPUS

DOMAIN = "leaf-and-kettle.myshopify.com"
SECRET = "shpss_test_webhook_secret"


def corpus_order() -> dict:
    return json.loads((CORPUS / "webhooks" / "shopify" / "order.json").read_text())["order"]


@pytest.fixture
async def shop(session, settings):
    row = await create_shop(session, settings, name="Leaf & Kettle", domain=DOMAIN, webhook_secret=SECRET)
    yield row
    directory.invalidate()


@pytest.fixture
async def client(settings, shop):
    shop_endpoints.deliveries = shop_endpoints.Deliveries()  # ids remembered by an earlier test's app
    public = PublicEndpoints()
    public.add_router(shop_endpoints.router())
    async with AsyncTestClient(app=create_app(settings, public=public)) as client:
        yield client


async def deliver(client, body: bytes | dict, *, secret: str | None = SECRET, topic: str = "orders/create",
                  webhook_id: str = "wh-1", signature: str | None = None, domain: str = DOMAIN):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", "x-shopify-topic": topic, "x-shopify-shop-domain": domain,
               "x-shopify-webhook-id": webhook_id}
    if signature is not None or secret is not None:
        headers["x-shopify-hmac-sha256"] = signature if signature is not None else shopify.signature(secret, raw)
    return await client.post("/webhooks/shopify", content=raw, headers=headers)


async def count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


def test_the_corpus_order_parses_with_its_line_items():
    order = shopify.parse(json.dumps(corpus_order()).encode())
    assert (order.external_id, order.number, order.status, order.currency, order.total) == (
        "450789469", "#1001", "authorized", "USD", Decimal("409.94"))
    assert order.email == "bob.norman@hostmail.com" and order.placed_at.isoformat() == "2008-01-10T16:00:00+00:00"
    assert [(i.external_id, i.sku, i.quantity, i.unit_price) for i in order.items] == [
        ("466157049", "IPOD2008GREEN", 1, Decimal("199.00")), ("518995019", "IPOD2008RED", 1, Decimal("199.00")),
        ("703073504", "IPOD2008BLACK", 1, Decimal("199.00"))]


async def test_a_signed_delivery_stores_the_order_its_items_and_customer(client, session):
    answer = await deliver(client, corpus_order())
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] is True
    order = await session.scalar(select(Order))
    assert (order.source, order.external_id, order.number) == ("shopify", "450789469", "#1001")
    assert await count(session, OrderItem) == 3
    assert await session.scalar(select(CustomerIdentity.customer_id).where(
        CustomerIdentity.value == "bob.norman@hostmail.com")) == order.customer_id
    assert (await session.get(Customer, order.customer_id)).name == "Bob Norman"
    assert (await session.scalar(select(Shop).execution_options(populate_existing=True))).last_webhook_at


async def test_an_update_changes_the_order_and_an_older_one_arriving_late_does_not(client, session):
    await deliver(client, corpus_order())
    newer = copy.deepcopy(corpus_order())
    newer.update(updated_at="2008-01-11T09:00:00-05:00", fulfillment_status="fulfilled", financial_status="paid")
    newer["line_items"] = newer["line_items"][:1]
    assert (await deliver(client, newer, topic="orders/updated", webhook_id="wh-2")).status_code == 200
    late = copy.deepcopy(corpus_order())
    late.update(updated_at="2008-01-10T12:00:00-05:00", cancelled_at="2008-01-10T12:00:00-05:00")
    answer = await deliver(client, late, topic="orders/updated", webhook_id="wh-3")
    assert answer.status_code == 200 and answer.json()["stale"] is True
    order = await session.scalar(select(Order).execution_options(populate_existing=True))
    assert order.status == "fulfilled"
    assert await count(session, OrderItem) == 1


@pytest.mark.parametrize("signature", ["wrong", "", None])
async def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_stored(client, session, signature):
    if signature is None:
        answer = await deliver(client, corpus_order(), secret=None)
    elif signature == "wrong":
        answer = await deliver(client, corpus_order(), secret="another-secret")
    else:
        answer = await deliver(client, corpus_order(), secret=None, signature="")
    assert answer.status_code == 401 and "X-Shopify-Hmac-Sha256" in answer.json()["detail"]
    assert await count(session, Order) == 0 and await count(session, Customer) == 0


async def test_an_unknown_shop_is_refused(client, session):
    answer = await deliver(client, corpus_order(), domain="someone-else.myshopify.com")
    assert answer.status_code == 401 and await count(session, Order) == 0


async def test_a_replayed_delivery_stores_nothing_twice(client, session):
    for _ in range(2):
        assert (await deliver(client, corpus_order(), webhook_id="wh-same")).status_code == 200
    assert (await deliver(client, corpus_order(), webhook_id="wh-other-id")).status_code == 200  # a resend by id
    assert await count(session, Order) == 1 and await count(session, OrderItem) == 3
    assert await count(session, Customer) == 1


async def test_malformed_json_is_answered_400_with_what_is_wrong(client, session):
    answer = await deliver(client, b'{"id": 1, "line_items": [')
    assert answer.status_code == 400 and "malformed Shopify order: the body is not JSON" in answer.json()["detail"]
    answer = await deliver(client, {"name": "#1"}, webhook_id="wh-4")
    assert answer.status_code == 400 and "no id" in answer.json()["detail"]
    assert await count(session, Order) == 0


async def test_other_topics_are_acknowledged_and_ignored(client, session):
    answer = await deliver(client, {"id": 7}, topic="products/update")
    assert answer.status_code == 200 and answer.json() == {"ignored": "products/update"}
    assert await count(session, Order) == 0


async def test_concurrent_deliveries_are_stored_together_each_answered_and_the_newest_version_kept(client, session):
    import asyncio

    def version(n: int, minutes: int, status: str) -> dict:
        order = copy.deepcopy(corpus_order())
        order.update(id=n, name=f"#{n}", updated_at=f"2008-01-10T11:{minutes:02d}:00-05:00", financial_status=status,
                     email=f"buyer{n % 3}@example.com")
        order["customer"]["email"] = order["email"]
        return order

    bodies = [version(n, 0, "pending") for n in range(1, 21)] + [version(1, 30, "paid"), version(1, 10, "voided")]
    answers = await asyncio.gather(*(deliver(client, body, webhook_id=f"wh-c{k}") for k, body in enumerate(bodies)))
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    assert await count(session, Order) == 20 and await count(session, OrderItem) == 60
    assert await count(session, Customer) == 3  # one per buyer, though their orders came in one batch
    first = await session.scalar(select(Order).where(Order.external_id == "1"))
    assert first.status == "paid"
