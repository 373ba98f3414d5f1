"""The one order upsert (helpdesk/customers/orders.py): create, update, out-of-order and replayed
versions, line items by their key, the customer by email then phone, and the bulk path."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select

from helpdesk.customers.orders import ItemIn, OrderIn, upsert_order, upsert_orders_bulk
from helpdesk.customers.resolution import Claimed, resolve
from helpdesk.models import Customer, CustomerIdentity, IdentityConflict, Order, OrderItem

PLACED = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)


def order(external_id: str = "1001", *, updated: int = 0, status: str = "paid", email: str | None = "ann@example.com",
          phone: str | None = None, items=None, **fields) -> OrderIn:
    items = items if items is not None else (ItemIn("Sencha 100 g", 2, Decimal("9.50"), sku="SEN-100", external_id="l1"),)
    return OrderIn(source="shopify", external_id=external_id, number=f"#{external_id}", status=status, currency="EUR",
                   total=sum((i.unit_price * i.quantity for i in items), Decimal(0)), placed_at=PLACED,
                   updated_at=PLACED + timedelta(minutes=updated), email=email, phone=phone, name="Ann Lee",
                   items=tuple(items), **fields)


async def count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


async def test_a_new_order_is_created_with_its_items_and_a_new_customer(session):
    stored, created = await upsert_order(session, order())
    assert created and stored.number == "#1001" and stored.total == Decimal("19.00")
    assert [(i.external_id, i.sku, i.quantity) for i in stored.items] == [("l1", "SEN-100", 2)]
    customer = await session.get(Customer, stored.customer_id)
    assert customer.name == "Ann Lee"
    assert await count(session, Customer) == 1


async def test_a_newer_version_updates_the_order_and_replaces_its_items_by_their_id(session):
    await upsert_order(session, order(items=[ItemIn("Sencha", 1, Decimal("9.50"), sku="SEN", external_id="l1"),
                                             ItemIn("Kettle", 1, Decimal("40"), sku="KET", external_id="l2")]))
    first_ids = {i.external_id: i.id for i in (await session.scalars(select(OrderItem))).all()}
    stored, created = await upsert_order(session, order(updated=5, status="fulfilled", items=[
        ItemIn("Sencha", 3, Decimal("9.50"), sku="SEN", external_id="l1"),
        ItemIn("Cup", 2, Decimal("6"), sku="CUP", external_id="l3")]))
    assert not created and stored.status == "fulfilled"
    items = {i.external_id: i for i in stored.items}
    assert set(items) == {"l1", "l3"}  # l2 is no longer in the order
    assert items["l1"].id == first_ids["l1"] and items["l1"].quantity == 3  # updated in place
    assert await count(session, Order) == 1


async def test_an_older_version_arriving_late_never_overwrites_a_newer_one(session):
    await upsert_order(session, order(updated=10, status="fulfilled"))
    stored, created = await upsert_order(session, order(updated=2, status="paid", items=[]))
    assert not created and stored.status == "fulfilled" and len(stored.items) == 1
    result = await upsert_orders_bulk(session, [order(updated=1, status="open")])
    assert result.count("stale") == 1 and result.count("updated") == 0


async def test_a_replayed_version_changes_nothing_and_duplicates_nothing(session):
    for _ in range(3):
        stored, _ = await upsert_order(session, order(updated=1))
    assert await count(session, Order) == 1 and await count(session, OrderItem) == 1
    assert await count(session, Customer) == 1 and await count(session, CustomerIdentity) == 1
    assert stored.updated_at == PLACED + timedelta(minutes=1)


async def test_the_customer_is_found_by_email_in_any_case_then_by_phone(session):
    known = await resolve(session, [Claimed("email", "ann@example.com")], name="Ann", source="csv")
    by_phone = await resolve(session, [Claimed("phone", "+49 151 2345 6789")], name="Bob", source="csv")
    await session.commit()
    first, _ = await upsert_order(session, order("1", email="ANN@Example.com"))
    second, _ = await upsert_order(session, order("2", email=None, phone="0049151 23456789"))
    third, _ = await upsert_order(session, order("3", email="new@example.com", phone="+4915199999999"))
    assert first.customer_id == known.customer_id
    assert second.customer_id == by_phone.customer_id
    assert third.customer_id not in (known.customer_id, by_phone.customer_id)
    assert set((await session.execute(select(CustomerIdentity.kind, CustomerIdentity.value).where(
        CustomerIdentity.customer_id == third.customer_id))).all()) == {("email", "new@example.com"),
                                                                          ("phone", "+4915199999999")}


async def test_an_email_and_a_phone_of_two_customers_are_flagged_not_merged(session):
    ann = await resolve(session, [Claimed("email", "ann@example.com")], source="csv")
    bob = await resolve(session, [Claimed("phone", "+4915123456789")], source="csv")
    await session.commit()
    stored, _ = await upsert_order(session, order(phone="+4915123456789"))
    assert stored.customer_id == ann.customer_id
    conflict = await session.scalar(select(IdentityConflict))
    assert (conflict.holder_id, conflict.claimant_id, conflict.source) == (bob.customer_id, ann.customer_id, "shopify")
    await upsert_order(session, order(updated=1, phone="+4915123456789"))
    assert await count(session, IdentityConflict) == 1  # flagged once while open


async def test_bulk_upsert_shares_new_customers_and_merges_items_across_calls(session):
    batch = [order(str(n), email=f"c{n % 3}@example.com", updated=0, items=[
        ItemIn(f"Tea {n}", 1, Decimal("5"), sku=f"T{n}")]) for n in range(9)]
    result = await upsert_orders_bulk(session, batch)
    await session.commit()
    assert result.count("created") == 9 and result.customers_created == 3
    # the same order again with another line (an import spreading one order over rows): items are added
    more = await upsert_orders_bulk(session, [order("0", email="c0@example.com", items=[
        ItemIn("Cup", 2, Decimal("6"), sku="CUP")])])
    await session.commit()
    assert more.count("updated") == 1
    assert await count(session, OrderItem) == 10
    assert await count(session, Customer) == 3


async def test_an_order_without_a_readable_email_or_phone_is_skipped_with_the_reason(session):
    result = await upsert_orders_bulk(session, [order(email="not an address", phone=None), order("2")])
    assert result.orders[0].skipped and "email or phone" in result.orders[0].skipped
    assert result.count("created") == 1


async def test_the_demo_seeds_its_orders_through_the_upsert_once(settings, session):
    from helpdesk.tools.demo import seed_demo

    for _ in range(2):
        await seed_demo(settings, customers=4, tickets=2)
    orders = (await session.scalars(select(Order).where(Order.source == "demo"))).all()
    assert 4 <= len(orders) <= 20 and all(o.updated_at == o.placed_at for o in orders)
    assert await session.scalar(select(func.count()).select_from(OrderItem)) >= len(orders)
    emails = set(await session.scalars(select(CustomerIdentity.value).where(
        CustomerIdentity.kind == "email", CustomerIdentity.customer_id.in_({o.customer_id for o in orders}))))
    assert len(emails) == 4  # each order on the demo customer with that email, none created twice


async def test_a_known_customer_given_an_identity_in_bulk_keeps_one_record(session):
    known = await resolve(session, [Claimed("email", "ann@example.com")], source="csv")
    await session.commit()
    result = await upsert_orders_bulk(session, [order("1", phone="+4915111111111"), order("2", email="bo@example.com")])
    await session.commit()
    assert result.changed_customers == {known.customer_id} and result.customers_created == 1
    assert await session.scalar(select(CustomerIdentity.customer_id).where(
        CustomerIdentity.value == "+4915111111111")) == known.customer_id
