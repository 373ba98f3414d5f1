"""The customer panel (360° view), editing, and merging two customers with a tombstone."""
from __future__ import annotations

from sqlalchemy import select

from helpdesk.customers import records as customers
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Customer, CustomerIdentity, Order, Ticket
from tests.factories import inbound
from tests.support.console import add_orders, app, client, htmx, shop, sign_in  # noqa: F401


async def test_panel_shows_identities_orders_and_tickets(client, shop, session):
    await add_orders(session, shop.customer_id, 6, start=2)  # 8 in all; the panel shows the last 5
    await sign_in(client, "agent")
    panel = await client.get(f"/console/customers/{shop.customer_id}/panel?ticket={shop.ticket_ids[0]}", headers=htmx())
    text = panel.text
    assert 'id="customer-panel"' in text and "ann@example.com" in text and "Ann Example" in text
    assert "8 orders" in text and "240.00 EUR" in text and "Show all 8 orders" in text
    assert text.count('class="order"') == 5 and "Item 0.1" in text
    assert "Where is my order?" in text and "Broken teapot" in text and 'id="sla-clocks"' in text
    every = await client.get(f"/console/customers/{shop.customer_id}/orders", headers=htmx("customer-orders"))
    assert every.text.count('class="order"') == 8 and "Show all" not in every.text


async def test_edit_customer_saves_and_reports_errors_inline(client, shop, session):
    token = await sign_in(client, "agent")
    response = await client.post(f"/console/customers/{shop.customer_id}", headers=htmx("customer-edit", token),
                                 data={"name": "Ann Example-Smith", "notes": "prefers email", "organization_id": ""})
    assert response.status_code == 200 and "Saved." in response.text
    customer = await session.get(Customer, shop.customer_id, populate_existing=True)
    assert (customer.name, customer.notes) == ("Ann Example-Smith", "prefers email")
    bad = await client.post(f"/console/customers/{shop.customer_id}", headers=htmx("customer-edit", token),
                            data={"name": "x" * 201})
    assert 'id="customer-edit-error"' in bad.text and "at most 200" in bad.text


async def test_merge_moves_identities_tickets_orders_and_leaves_a_tombstone(session, settings, shop):
    other = await ingest(session, inbound(channel="whatsapp", sender="+49 151 1234567", name="Ann on WhatsApp",
                                          subject=None, text="Hi, it's Ann"), settings=settings)
    await add_orders(session, other.customer_id, 1, start=10)
    survivor = await customers.merge_customers(session, other.customer_id, shop.customer_id, agent_id=None)
    assert survivor.id == shop.customer_id
    tombstone = await session.get(Customer, other.customer_id, populate_existing=True)
    assert tombstone.merged_into_id == shop.customer_id
    kinds = set(await session.scalars(select(CustomerIdentity.kind).where(CustomerIdentity.customer_id == shop.customer_id)))
    assert kinds == {"email", "whatsapp"}
    assert set(await session.scalars(select(Ticket.customer_id))) == {shop.customer_id}
    assert set(await session.scalars(select(Order.customer_id))) == {shop.customer_id}
    assert await customers.survivor_id(session, other.customer_id) == shop.customer_id
    # the next WhatsApp message lands on the survivor
    again = await ingest(session, inbound(channel="whatsapp", sender="+491511234567", subject=None, text="me again"),
                         settings=settings)
    assert again.customer_id == shop.customer_id


async def test_customer_merge_is_for_leads_and_old_links_follow_the_tombstone(app, shop, session, settings):
    from litestar.testing import AsyncTestClient

    other = await ingest(session, inbound(sender="ann.private@example.com", name="Ann Private"), settings=settings)
    # one client at a time: each runs the app on its own event loop, and pooled connections belong to one loop
    async with AsyncTestClient(app=app) as agent:
        token = await sign_in(agent, "agent")
        refused = await agent.post(f"/console/customers/{other.customer_id}/merge", headers={"x-csrftoken": token},
                                   data={"target": str(shop.customer_id)}, follow_redirects=False)
        assert refused.status_code == 403
    async with AsyncTestClient(app=app) as lead:
        token = await sign_in(lead, "lead")
        page = await lead.get(f"/console/customers/{other.customer_id}")
        assert 'id="customer-merge"' in page.text
        bad = await lead.post(f"/console/customers/{other.customer_id}/merge", headers=htmx("customer-merge", token),
                              data={"target": str(other.customer_id)})
        assert "cannot be merged into itself" in bad.text
        done = await lead.post(f"/console/customers/{other.customer_id}/merge", headers=htmx("customer-merge", token),
                               data={"target": str(shop.customer_id)})
        assert done.headers["hx-redirect"] == f"/console/customers/{shop.customer_id}"
        old = await lead.get(f"/console/customers/{other.customer_id}", follow_redirects=False)
        assert old.status_code == 303 and old.headers["location"] == f"/console/customers/{shop.customer_id}"
