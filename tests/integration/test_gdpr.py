"""GDPR: `helpdesk customers export ID` and `erase ID` (helpdesk/customers/gdpr.py), on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from helpdesk.channel import Attachment, Identity
from helpdesk.cli import cli
from helpdesk.customers import gdpr
from helpdesk.customers.records import merge_customers
from helpdesk.files import blob_path, store_blob
from helpdesk.inbound.ingest import ingest
from helpdesk.models import (
    Agent,
    AuditEvent,
    Base,
    ChatChannel,
    ChatConversation,
    Customer,
    CustomerIdentity,
    Message,
    Order,
    OrderItem,
    Ticket,
    TicketParticipant,
)
from helpdesk.tickets.outbox import queue_reply
from helpdesk.tickets.search import search
from tests.factories import inbound
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401

NAME, EMAIL, PHONE = "Zelda Quimby", "zelda.quimby@example.org", "+4915199988877"
SENTENCE = "my violet teapot cracked in transit"
# what must not be found anywhere after erasure (lower case; the phone also as WhatsApp writes it)
NEEDLES = ["zelda", "quimby", EMAIL, PHONE, PHONE.lstrip("+"), "violet teapot", "zq@example.org"]
PHOTO = b"\xff\xd8 zelda's own photo bytes \xff\xd9"
SHARED = b"%PDF-1.4 the shop's returns form, sent by many customers"


@dataclass
class Seeded:
    zelda: int
    duplicate: int
    bob: int
    messages: list[int]  # every message of Zelda's tickets, the merged duplicate's included
    aside: int  # her reply in Bob's ticket (she was in Cc)


async def seed(session, settings) -> Seeded:
    raw = f"From: {NAME} <{EMAIL}>\r\nSubject: Violet teapot\r\n\r\nHello, {SENTENCE}.\r\n".encode()
    first = await ingest(session, dataclasses.replace(
        inbound(sender=EMAIL, name=NAME, subject="Violet teapot", text=f"Hello, {SENTENCE}.",
                attachments=[Attachment("photo.jpg", "image/jpeg", PHOTO), Attachment("returns.pdf", "application/pdf", SHARED)],
                received_at=datetime(2026, 11, 2, 10, tzinfo=timezone.utc)),
        html=f"<p>Hello, {SENTENCE}.</p>", raw_ref=store_blob(settings.raw_dir, raw)), settings=settings)
    zelda = first.customer_id
    session.add(CustomerIdentity(customer_id=zelda, kind="whatsapp", value=PHONE, display_name=NAME))
    customer = await session.get(Customer, zelda)
    customer.notes, customer.attributes = f"{NAME} prefers calls", {"nickname": {"type": "text", "value": "Zelda Q"}}
    agent = Agent(email="bo@shop.test", name="Bo Agent", password_hash="x")
    channel = ChatChannel(key="shop", name="Shop chat", allowed_origins=["https://shop.test"], prechat_fields=["name"])
    session.add_all([agent, channel])
    session.add(Order(customer_id=zelda, source="shopify", external_id="o-1", number="#1001", status="paid",
                      currency="EUR", total=Decimal("42.00"), placed_at=datetime(2026, 10, 1, tzinfo=timezone.utc),
                      items=[OrderItem(sku="TP-1", title="Glazed teapot", quantity=1, unit_price=Decimal("42.00"))]))
    await session.commit()
    session.add(ChatConversation(public_id="c-8f3a91d2", channel_id=channel.id, customer_id=zelda, name=NAME,
                                 email=EMAIL, origin="https://shop.test/?email=" + EMAIL))
    await session.commit()
    ticket = await session.get(Ticket, first.ticket_id)
    await queue_reply(session, ticket, settings=settings, agent=agent, text=f"Hi {NAME}, sorry about the teapot.")
    whatsapp_raw = json.dumps({"from": PHONE.lstrip("+"), "text": SENTENCE}).encode()
    await ingest(session, dataclasses.replace(
        inbound(channel="whatsapp", sender=PHONE, name=NAME, subject=None, text=f"Photo of {SENTENCE}",
                thread=f"15550001:{PHONE.lstrip('+')}", external_id=f"{PHONE.lstrip('+')}:wamid-1"),
        raw_ref=store_blob(settings.raw_dir, whatsapp_raw)), settings=settings)
    # Bob's own ticket: the same returns form (one blob, shared), and Zelda in Cc
    bob = await ingest(session, inbound(sender="bob@example.net", name="Bob Stone", subject="Returns",
                                        text="Filled in the form.", cc=(Identity("email", EMAIL, NAME),),
                                        attachments=[Attachment("form.pdf", "application/pdf", SHARED)]),
                       settings=settings)
    bob_ticket = await session.get(Ticket, bob.ticket_id)
    aside = await ingest(session, inbound(sender=EMAIL, name=NAME, subject="Re: Returns", token=bob_ticket.number,
                                          text=f"Same here, {SENTENCE}."), settings=settings)
    assert aside.ticket_id == bob.ticket_id  # a Cc's reply joins Bob's ticket
    # an older record of hers, merged in by an agent: a tombstone that still holds its name
    duplicate = await ingest(session, inbound(sender="zq@example.org", name="Zelda Q.", subject="Lid",
                                              text=f"About {SENTENCE}: the lid too."), settings=settings)
    await merge_customers(session, duplicate.customer_id, zelda)
    messages = list(await session.scalars(select(Message.id).join(Ticket).where(Ticket.customer_id == zelda)))
    return Seeded(zelda, duplicate.customer_id, bob.customer_id, sorted(messages), aside.message_id)


async def test_export_holds_every_message_and_attachment_of_the_customer(session, settings, tmp_path):
    seeded = await seed(session, settings)
    output = tmp_path / "zelda.zip"
    summary = await gdpr.export_customer(session, settings, seeded.zelda, output)
    assert (summary.tickets, summary.messages, summary.attachments, summary.missing_files) == (3, 5, 2, 0)
    with zipfile.ZipFile(output) as archive:
        document = json.loads(archive.read("customer.json"))
        assert list(document) == ["format", "exported_at", "requested_id", "customer", "merged_records", "orders",
                                  "chat_conversations", "tickets", "messages_in_other_tickets"]
        customer = document["customer"]
        assert (customer["id"], customer["name"], customer["notes"]) == (seeded.zelda, NAME, f"{NAME} prefers calls")
        assert {(i["kind"], i["value"]) for i in customer["identities"]} == {
            ("email", EMAIL), ("whatsapp", PHONE), ("email", "zq@example.org")}
        assert document["orders"][0]["items"][0] == {"external_id": None, "sku": "TP-1", "title": "Glazed teapot",
                                                     "quantity": 1, "unit_price": "42.00"}
        assert document["chat_conversations"][0]["email"] == EMAIL
        messages = [m for t in document["tickets"] for m in t["messages"]]
        assert sorted(m["id"] for m in messages) == seeded.messages
        assert [m["id"] for m in document["messages_in_other_tickets"]] == [seeded.aside]
        assert document["messages_in_other_tickets"][0]["text"] == f"Same here, {SENTENCE}."
        first = next(m for m in messages if m["html"])
        assert first["text"] == f"Hello, {SENTENCE}." and first["sender"] == {"kind": "email", "value": EMAIL,
                                                                               "name": NAME}
        reply = next(m for m in messages if m["direction"] == "outbound")
        assert reply["delivery_status"] == "queued" and reply["sender"]["name"] == "Bo Agent"
        files = {a["path"]: a for m in messages for a in m["attachments"]}
        assert set(files) == {f"attachments/{first['id']}/photo.jpg", f"attachments/{first['id']}/returns.pdf"}
        assert archive.read(f"attachments/{first['id']}/photo.jpg") == PHOTO
        assert archive.read(f"attachments/{first['id']}/returns.pdf") == SHARED
        assert sorted(archive.namelist()) == sorted(["customer.json", *files])
    assert output.stat().st_mode & 0o777 == 0o600


async def test_a_merged_id_exports_its_survivor(session, settings, tmp_path):
    seeded = await seed(session, settings)
    summary = await gdpr.export_customer(session, settings, seeded.duplicate, tmp_path / "dup.zip")
    assert summary.customer_id == seeded.zelda
    with zipfile.ZipFile(tmp_path / "dup.zip") as archive:
        document = json.loads(archive.read("customer.json"))
    assert document["requested_id"] == seeded.duplicate and document["customer"]["id"] == seeded.zelda
    assert document["merged_records"] == [{"id": seeded.duplicate, "name": "Zelda Q.", "notes": None,
                                           "merged_into_id": seeded.zelda,
                                           "created_at": document["merged_records"][0]["created_at"]}]
    assert "Lid" in [t["subject"] for t in document["tickets"]]


async def _database_text(session) -> str:
    """Every value of every row of every table, as one lower-case text."""
    parts = []
    for table in Base.metadata.sorted_tables:
        for row in await session.execute(select(table)):
            parts += [json.dumps(v, default=str) if isinstance(v, dict | list) else str(v) for v in row]
    return "\n".join(parts).lower()


def _store_text(settings) -> str:
    parts = []
    for root in (settings.attachments_dir, settings.raw_dir, settings.thumbnails_dir):
        if root.exists():
            parts += [p.read_bytes().decode("utf-8", "replace") for p in Path(root).rglob("*") if p.is_file()]
    return "\n".join(parts).lower()


async def test_erase_leaves_no_personal_data_in_the_database_or_the_stores(session, settings):
    seeded = await seed(session, settings)
    before = await _database_text(session) + _store_text(settings)
    assert all(needle in before for needle in NEEDLES)  # the check below can see them

    erasure = await gdpr.erase_customer(session, settings, seeded.duplicate)  # a merged id: its survivor
    assert erasure.customer_id == seeded.zelda
    session.expire_all()

    database, stores = await _database_text(session), _store_text(settings)
    assert [n for n in NEEDLES if n in database] == []
    assert [n for n in NEEDLES if n in stores] == []
    customer = await session.get(Customer, seeded.zelda)
    assert customer.name == f"Erased customer #{seeded.zelda}" and customer.erased_at is not None
    assert (customer.notes, customer.attributes) == (None, None)
    assert (await session.get(Customer, seeded.duplicate)).name == f"Erased customer #{seeded.duplicate}"
    assert await session.scalar(select(CustomerIdentity.id).where(CustomerIdentity.customer_id == seeded.zelda)) is None
    texts = set(await session.scalars(select(Message.text).where(Message.id.in_([*seeded.messages, seeded.aside]))))
    assert texts == {"[erased]"}
    chat = await session.scalar(select(ChatConversation))
    assert (chat.name, chat.email, chat.origin) == (None, None, None)
    assert await session.scalar(select(TicketParticipant.id)) is None
    # her reply waiting in the outbox does not go out
    assert set(await session.scalars(select(Message.delivery_status).where(Message.direction == "outbound"))) == {
        "failed"}
    # orders stay for the accounts
    assert await session.scalar(select(Order.number).where(Order.customer_id == seeded.zelda)) == "#1001"


async def test_an_attachment_another_customer_still_uses_survives_erasure(session, settings):
    seeded = await seed(session, settings)
    photo = blob_path(settings.attachments_dir, store_blob(settings.attachments_dir, PHOTO))
    shared = blob_path(settings.attachments_dir, store_blob(settings.attachments_dir, SHARED))
    erasure = await gdpr.erase_customer(session, settings, seeded.zelda)
    assert not photo.exists() and shared.read_bytes() == SHARED
    assert (erasure.attachments, erasure.files_removed, erasure.files_kept_shared) == (2, 1, 1)
    bob_files = await session.scalars(select(Message).join(Ticket).where(Ticket.customer_id == seeded.bob))
    assert [m.text for m in bob_files] == ["Filled in the form.", "[erased]"]  # her reply in his ticket


async def test_the_erase_audit_event_holds_counts_only(session, settings):
    seeded = await seed(session, settings)
    erasure = await gdpr.erase_customer(session, settings, seeded.zelda)
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.erase"))
    assert (event.object_type, event.object_id) == ("customer", seeded.zelda)
    assert event.data == erasure.counts() and all(isinstance(v, int) for v in event.data.values())
    assert event.data["messages"] == len(seeded.messages) + 1 and event.data["raw_files_removed"] == 2
    assert not any(needle in json.dumps(event.data).lower() for needle in NEEDLES)


async def test_search_no_longer_finds_the_erased_customer(session, settings):
    seeded = await seed(session, settings)
    assert await search(session, "Quimby") and await search(session, "violet teapot")
    await gdpr.erase_customer(session, settings, seeded.zelda)
    for query in ("Quimby", "Zelda", "violet teapot", "teapot", EMAIL, PHONE.lstrip("+")):
        assert await search(session, query) == [], query
    assert [hit.subject for hit in await search(session, "form")] == ["Returns"]  # others are still found


async def customers_cli(*args, input: str | None = None):
    # the command runs its own event loop: keep it off this test's loop
    return await asyncio.to_thread(CliRunner().invoke, cli, ["customers", *args], input=input)


async def test_cli_erase_asks_for_the_id_and_export_writes_the_zip(session, settings, monkeypatch, tmp_path):
    seeded = await seed(session, settings)
    monkeypatch.setenv("HELPDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(settings.data_dir))
    output = tmp_path / "out.zip"
    result = await customers_cli("export", str(seeded.duplicate), "--output", str(output))
    assert result.exit_code == 0, result.output
    assert f"customer {seeded.zelda} (customer {seeded.duplicate} was merged into {seeded.zelda})" in result.output
    assert zipfile.ZipFile(output).read("customer.json")

    refused = await customers_cli("erase", str(seeded.zelda), input="yes\n")
    assert refused.exit_code == 1 and "nothing was erased" in refused.output
    session.expire_all()
    assert (await session.get(Customer, seeded.zelda)).erased_at is None

    confirmed = await customers_cli("erase", str(seeded.zelda), input=f"{seeded.zelda}\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert f"customer {seeded.zelda} erased" in confirmed.output
    session.expire_all()
    assert (await session.get(Customer, seeded.zelda)).erased_at is not None

    missing = await customers_cli("erase", "999999", "--yes")
    assert missing.exit_code == 1 and "there is no customer 999999" in missing.output


async def test_console_export_and_typed_erase_are_for_admins(client, shop, session):
    await sign_in(client, "agent")
    page = await client.get(f"/console/customers/{shop.customer_id}")
    assert page.status_code == 200 and 'id="customer-privacy"' not in page.text
    assert (await client.get(f"/console/customers/{shop.customer_id}/export")).status_code == 403

    token = await sign_in(client, "admin")
    page = await client.get(f"/console/customers/{shop.customer_id}")
    assert 'id="customer-export"' in page.text and 'id="customer-erase"' in page.text
    download = await client.get(f"/console/customers/{shop.customer_id}/export")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    assert f'customer-{shop.customer_id}.zip' in download.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert json.loads(archive.read("customer.json"))["customer"]["name"] == "Ann Example"

    wrong = await client.post(f"/console/customers/{shop.customer_id}/erase", headers=htmx("customer-privacy", token),
                              data={"confirm": "yes"})
    assert 'id="customer-erase-error"' in wrong.text and "nothing was erased" in wrong.text
    assert (await session.get(Customer, shop.customer_id, populate_existing=True)).erased_at is None
    done = await client.post(f"/console/customers/{shop.customer_id}/erase", headers=htmx("customer-privacy", token),
                             data={"confirm": str(shop.customer_id)})
    assert f"/console/customers/{shop.customer_id}" in done.headers["hx-location"]
    customer = await session.get(Customer, shop.customer_id, populate_existing=True)
    assert customer.erased_at is not None and customer.name == f"Erased customer #{shop.customer_id}"
    page = await client.get(f"/console/customers/{shop.customer_id}")
    assert 'id="customer-erased"' in page.text and "Ann Example" not in page.text
