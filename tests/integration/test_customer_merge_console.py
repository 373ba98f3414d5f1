"""Merging customers in the console: the type-ahead, the side-by-side confirmation, what moves, old
ids that still resolve, the audit event, the duplicates page and who may do what."""
from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from helpdesk.customers import lookup
from helpdesk.inbound.ingest import ingest
from helpdesk.models import (AuditEvent, Customer, CustomerIdentity, DuplicateDismissal, IdentityConflict, Order,
                             Organization, Ticket)
from tests.factories import inbound
from tests.support.console import add_orders, app, csrf_from, htmx, shop, sign_in  # noqa: F401


async def whatsapp_ann(session, settings) -> int:
    """Ann again, on WhatsApp, with an order, a note and an attribute of her own."""
    other = await ingest(session, inbound(channel="whatsapp", sender="+49 151 1234567", name="Ann on WhatsApp",
                                          subject=None, text="Hi, it's Ann"), settings=settings)
    await add_orders(session, other.customer_id, 1, start=10)
    customer = await session.get(Customer, other.customer_id)
    customer.notes, customer.attributes = "calls in the evening", {"plan": {"type": "text", "value": "gold"}}
    await session.commit()
    return other.customer_id


async def test_type_ahead_finds_by_name_email_and_phone(session, settings, shop):
    other = await whatsapp_ann(session, settings)
    bob = Customer(name="Bob Builder", identities=[CustomerIdentity(kind="email", value="bob@example.org")])
    session.add(bob)
    await session.commit()
    by_name = await lookup.find_customers(session, "ann", excluding=None)
    assert {c.id for c in by_name} == {shop.customer_id, other}
    assert [c.id for c in await lookup.find_customers(session, "ANN@exam", excluding=None)] == [shop.customer_id]
    assert [c.id for c in await lookup.find_customers(session, "0151 1234567", excluding=None)] == [other]
    assert [c.id for c in await lookup.find_customers(session, "+49 151 12345", excluding=None)] == [other]
    assert [c.id for c in await lookup.find_customers(session, "ann", excluding=shop.customer_id)] == [other]
    assert await lookup.find_customers(session, "a", excluding=None) == []  # too short to mean anything
    assert await lookup.find_customers(session, "100%_", excluding=None) == []  # LIKE's wildcards are literal


async def test_a_lead_merges_through_the_type_ahead_and_the_side_by_side(app, session, settings, shop):
    other = await whatsapp_ann(session, settings)
    acme = Organization(name="Acme GmbH")
    session.add(acme)
    await session.commit()
    (await session.get(Customer, other)).organization_id = acme.id
    session.add(IdentityConflict(kind="email", value="ann@example.com", holder_id=shop.customer_id,
                                 claimant_id=other, source="shopify"))
    await session.commit()
    async with AsyncTestClient(app=app) as lead:
        await sign_in(lead, "lead")
        page = await lead.get(f"/console/customers/{shop.customer_id}")
        assert 'id="customer-merge-search"' in page.text and f"/console/customers/{shop.customer_id}/merge/search" in page.text
        hits = await lead.get(f"/console/customers/{shop.customer_id}/merge/search?q=%2B49151",
                              headers=htmx("customer-merge-hits"))
        assert "Ann on WhatsApp" in hits.text and f"/merge?other={other}" in hits.text and "<html" not in hits.text
        assert "No customer matches" in (await lead.get(f"/console/customers/{shop.customer_id}/merge/search?q=zzz")).text
        # without script the form's GET lists the same matches on the merge page
        plain = await lead.get(f"/console/customers/{shop.customer_id}/merge?q=whatsapp")
        assert plain.status_code == 200 and f"/merge?other={other}" in plain.text

        compare = await lead.get(f"/console/customers/{shop.customer_id}/merge?other={other}")
        text = compare.text
        assert 'id="merge-side-by-side"' in text
        for expected in ("Ann Example", "Ann on WhatsApp", "ann@example.com", "+491511234567", "Acme GmbH",
                         "plan: gold", "calls in the evening", "2 (2 open)", "1 (1 open)"):
            assert expected in text, expected
        # keep Ann Example: the form on her side merges the WhatsApp record into her
        token = csrf_from(text)
        done = await lead.post(f"/console/customers/{other}/merge", data={"target": str(shop.customer_id), "_csrf_token": token},
                               follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == f"/console/customers/{shop.customer_id}"

        old = await lead.get(f"/console/customers/{other}", follow_redirects=False)
        assert old.status_code == 303 and old.headers["location"] == f"/console/customers/{shop.customer_id}"
        for path in ("", "/panel", "/orders"):
            assert (await lead.get(f"/console/customers/{other}{path}")).status_code == 200, path
        again = await lead.get(f"/console/customers/{other}/merge?other={shop.customer_id}")
        assert "merged or erased meanwhile" in again.text

    survivor = await session.get(Customer, shop.customer_id, populate_existing=True)
    tombstone = await session.get(Customer, other, populate_existing=True)
    assert tombstone.merged_into_id == shop.customer_id
    assert survivor.notes == "calls in the evening" and survivor.attributes == {"plan": {"type": "text", "value": "gold"}}
    assert survivor.organization_id == acme.id
    assert set(await session.scalars(select(CustomerIdentity.customer_id))) == {shop.customer_id}
    assert set(await session.scalars(select(Ticket.customer_id))) == {shop.customer_id}
    assert set(await session.scalars(select(Order.customer_id))) == {shop.customer_id}
    conflict = await session.scalar(select(IdentityConflict).execution_options(populate_existing=True))
    assert conflict.resolved_at is not None and conflict.resolved_by_id == shop.agents["lead"]
    audit = await session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.merge"))
    assert (audit.agent_id, audit.object_id) == (shop.agents["lead"], other)
    assert audit.data == {"into": shop.customer_id, "identities": 1, "tickets": 1, "orders": 1}


async def test_agents_see_and_dismiss_suggestions_but_only_leads_merge(app, session, settings, shop):
    other = await whatsapp_ann(session, settings)
    session.add(CustomerIdentity(customer_id=shop.customer_id, kind="phone", value="+491511234567"))
    third = Customer(name="Cy", identities=[CustomerIdentity(kind="email", value="cy@example.com")])
    session.add(third)
    await session.commit()
    session.add(IdentityConflict(kind="email", value="cy@example.com", holder_id=third.id, claimant_id=other, source="api"))
    await session.commit()
    async with AsyncTestClient(app=app) as agent:
        token = await sign_in(agent, "agent")
        hint = await agent.get(f"/console/customers/{shop.customer_id}/duplicates", headers=htmx("customer-duplicates"))
        assert "Possible duplicate:" in hint.text and "Ann on WhatsApp" in hint.text and "same phone +491511234567" in hint.text
        assert f'href="/console/customers/{other}"' in hint.text and "/merge?" not in hint.text
        page = await agent.get("/console/customers/duplicates")
        assert page.status_code == 200 and "same phone +491511234567" in page.text and "Merge…" not in page.text
        assert 'id="identity-conflicts"' in page.text and "cy@example.com" in page.text and "Keep apart" in page.text
        assert (await agent.get(f"/console/customers/{other}/merge?other={shop.customer_id}",
                                follow_redirects=False)).status_code == 403
        assert (await agent.get(f"/console/customers/{other}/merge/search?q=ann", follow_redirects=False)).status_code == 403
        assert (await agent.post(f"/console/customers/{other}/merge", headers={"x-csrftoken": token},
                                 data={"target": str(shop.customer_id)}, follow_redirects=False)).status_code == 403

        dismissed = await agent.post("/console/customers/duplicates/dismiss", headers=htmx("suggestion", token),
                                     data={"customer": str(shop.customer_id), "other": str(other)})
        assert dismissed.status_code == 200 and dismissed.text == ""
        assert await session.scalar(select(DuplicateDismissal.agent_id)) == shop.agents["agent"]
        conflict_id = await session.scalar(select(IdentityConflict.id))
        kept = await agent.post(f"/console/customers/conflicts/{conflict_id}/keep-apart", headers={"x-csrftoken": token},
                                follow_redirects=False)
        assert kept.status_code == 303 and kept.headers["location"] == "/console/customers/duplicates"
        page = await agent.get("/console/customers/duplicates")
        assert "No possible duplicates." in page.text and "No open conflicts." in page.text
        empty = await agent.get(f"/console/customers/{shop.customer_id}/duplicates")
        assert "Possible duplicate" not in empty.text
        twice = await agent.post(f"/console/customers/conflicts/{conflict_id}/keep-apart", headers={"x-csrftoken": token})
        assert twice.status_code == 404
        bad = await agent.post("/console/customers/duplicates/dismiss", headers={"x-csrftoken": token}, data={"customer": "x"})
        assert bad.status_code == 400
    async with AsyncTestClient(app=app) as lead:
        await sign_in(lead, "lead")
        session.add(CustomerIdentity(customer_id=third.id, kind="sms", value="+491511234567"))
        await session.commit()
        page = await lead.get("/console/customers/duplicates")
        assert f'href="/console/customers/{third.id}/merge?other={shop.customer_id}"' in page.text
        hint = await lead.get(f"/console/customers/{third.id}/duplicates")
        assert f"/console/customers/{third.id}/merge?other={shop.customer_id}" in hint.text
