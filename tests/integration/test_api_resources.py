"""The REST API's resources: pages walk every row once, merged ids resolve, identities never stolen,
orders upserted, replies queued in the outbox."""
from __future__ import annotations

from sqlalchemy import select

from helpdesk.customers import records
from helpdesk.inbound.ingest import ingest
from helpdesk.models import IdentityConflict, Message
from tests.factories import inbound
from tests.integration.test_api_access import api, assert_problem, bearer, tokens  # noqa: F401
from tests.support.console import app, shop  # noqa: F401


async def test_pages_walk_every_customer_exactly_once(api, session, settings, tokens):
    for n in range(7):
        await ingest(session, inbound(sender=f"walker{n}@example.com", name=f"Walker {n}"), settings=settings)
    seen, url = [], "/api/v1/customers?limit=3"
    while url:
        page = (await api.get(url, headers=bearer(tokens["reader"]))).json()
        seen += [c["id"] for c in page["data"]]
        url = page["next"]
        if len(seen) == 3:  # a customer added mid-walk is met once, at the end
            await ingest(session, inbound(sender="late@example.com", name="Late"), settings=settings)
    assert len(seen) == len(set(seen)) == 9 and seen == sorted(seen)
    found = (await api.get("/api/v1/customers?q=walker3@", headers=bearer(tokens["reader"]))).json()["data"]
    assert [c["name"] for c in found] == ["Walker 3"]


async def test_a_merged_customers_old_id_answers_as_the_survivor(api, session, settings, shop, tokens):
    other = await ingest(session, inbound(channel="whatsapp", sender="+49 151 1234567", name="Ann on WhatsApp",
                                          subject=None, text="Hi"), settings=settings)
    await records.merge_customers(session, other.customer_id, shop.customer_id)
    answer = await api.get(f"/api/v1/customers/{other.customer_id}", headers=bearer(tokens["reader"]))
    body = answer.json()
    assert answer.status_code == 200 and body["id"] == shop.customer_id
    assert {i["kind"] for i in body["identities"]} == {"email", "whatsapp"} and body["orders"]["count"] == 2
    tickets = (await api.get(f"/api/v1/tickets?customer_id={other.customer_id}",
                             headers=bearer(tokens["reader"]))).json()["data"]
    assert len(tickets) == 3 and {t["customer_id"] for t in tickets} == {shop.customer_id}


async def test_an_identity_another_customer_holds_is_flagged_not_moved(api, session, settings, shop, tokens):
    other = await ingest(session, inbound(sender="bob@example.com", name="Bob"), settings=settings)
    conflict = await api.post(f"/api/v1/customers/{other.customer_id}/identities", headers=bearer(tokens["writer"]),
                              json={"kind": "email", "value": "ANN@example.com"})
    body = assert_problem(conflict, 409)
    assert body["holder_id"] == shop.customer_id
    flagged = await session.get(IdentityConflict, body["conflict_id"])
    assert (flagged.holder_id, flagged.claimant_id, flagged.source) == (shop.customer_id, other.customer_id, "api")
    added = await api.post(f"/api/v1/customers/{other.customer_id}/identities", headers=bearer(tokens["writer"]),
                           json={"kind": "phone", "value": "+49 (151) 555-0101"})
    assert added.status_code == 201 and added.json()["value"] == "+491515550101"


async def test_orders_upsert_by_source_and_external_id(api, shop, tokens):
    order = {"number": "#1042", "status": "paid", "currency": "EUR", "total": "49.90",
             "placed_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z", "customer_id": shop.customer_id,
             "items": [{"title": "Earl Grey", "unit_price": "24.95", "quantity": 2, "sku": "TEA-1"}]}
    created = await api.put("/api/v1/orders/webshop/1042", headers=bearer(tokens["writer"]), json=order)
    assert created.status_code == 201 and created.json()["customer_id"] == shop.customer_id
    updated = await api.put("/api/v1/orders/webshop/1042", headers=bearer(tokens["writer"]),
                            json={**order, "status": "refunded", "updated_at": "2026-12-01T10:00:00Z"})
    assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    assert updated.json()["status"] == "refunded" and updated.json()["items"][0]["quantity"] == 2


async def test_a_reply_goes_through_the_outbox_and_a_note_is_stored(api, session, shop, tokens):
    ticket_id = shop.ticket_ids[0]
    reply = await api.post(f"/api/v1/tickets/{ticket_id}/messages", headers=bearer(tokens["writer"]),
                           json={"kind": "reply", "text": "Your parcel left today.", "status_after": "pending"})
    assert reply.status_code == 202 and reply.json()["delivery_status"] == "queued"
    stored = await session.get(Message, reply.json()["id"])
    assert (stored.direction, stored.agent_id) == ("outbound", shop.agents["admin"])
    note = await api.post(f"/api/v1/tickets/{ticket_id}/messages", headers=bearer(tokens["writer"]),
                          json={"kind": "note", "text": "called the courier"})
    assert note.status_code == 201 and note.json()["direction"] == "note"
    ticket = (await api.get(f"/api/v1/tickets/{ticket_id}", headers=bearer(tokens["reader"]))).json()
    assert ticket["status"] == "pending" and [m["direction"] for m in ticket["messages"]][-2:] == ["outbound", "note"]
    changed = await api.patch(f"/api/v1/tickets/{ticket_id}", headers=bearer(tokens["writer"]),
                              json={"priority": "urgent", "add_tags": ["vip"], "assignee_id": shop.agents["agent"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["priority"], changed.json()["tags"], changed.json()["assignee_id"]) == (
        "urgent", ["vip"], shop.agents["agent"])


async def test_a_ticket_made_through_the_api_is_an_email_ticket_of_the_customer(api, session, shop, tokens):
    made = await api.post("/api/v1/tickets", headers=bearer(tokens["writer"]),
                          json={"customer_id": shop.customer_id, "subject": "Refund", "text": "Please refund #1042",
                                "priority": "high", "tags": ["refund"], "external_id": "crm-1"})
    body = made.json()
    assert made.status_code == 201 and (body["channel"], body["customer_id"]) == ("email", shop.customer_id)
    assert (body["priority"], body["tags"], body["messages"][0]["direction"]) == ("high", ["refund"], "inbound")
    again = await api.post("/api/v1/tickets", headers=bearer(tokens["writer"]),
                           json={"customer_id": shop.customer_id, "subject": "Refund", "text": "Please refund #1042",
                                 "external_id": "crm-1"})
    assert again.status_code == 200 and again.json()["id"] == body["id"]
