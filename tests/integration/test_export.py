"""`helpdesk export tickets`: the documented JSON shape, one query per batch."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

from click.testing import CliRunner
from sqlalchemy import event, select

from helpdesk.channel import Attachment, Identity
from helpdesk.cli import cli
from helpdesk.tickets.export import ticket_documents
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Agent, CustomerIdentity, Ticket
from helpdesk.tickets.outbox import queue_reply
from tests.factories import inbound


async def seed(session, settings) -> None:
    first = await ingest(session, inbound(
        external_id="<a1@example.com>", subject="Broken zip", text="The zip is broken.",
        received_at=datetime(2026, 11, 2, 10, tzinfo=timezone.utc), cc=(Identity("email", "carl@example.org"),),
        attachments=[Attachment("a.pdf", "application/pdf", b"x" * 123)]), settings=settings)
    session.add(CustomerIdentity(customer_id=first.customer_id, kind="whatsapp", value="+4915123456789"))
    agent = Agent(email="bo@shop.test", name="Bo Agent", password_hash="x")
    session.add(agent)
    await session.commit()
    ticket = await session.get(Ticket, first.ticket_id)
    await queue_reply(session, ticket, settings=settings, agent=agent, text="Sending a new one.")
    for n in range(4):
        await ingest(session, inbound(sender=f"c{n}@example.com", subject=f"Question {n}"), settings=settings)


async def export_cli(*args):
    # the command runs its own event loop: keep it off this test's loop
    return await asyncio.to_thread(CliRunner().invoke, cli, ["export", "tickets", *args], catch_exceptions=False)


EXPECTED_MESSAGE_KEYS = {"direction", "channel", "external_id", "sender", "subject", "text", "auto_generated",
                         "attachments", "created_at"}


async def test_export_writes_every_ticket_in_the_documented_shape(session, settings, monkeypatch):
    await seed(session, settings)
    monkeypatch.setenv("HELPDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(settings.data_dir))
    result = await export_cli("--json")
    document = json.loads(result.stdout)
    assert list(document) == ["tickets"] and len(document["tickets"]) == 5
    ticket = document["tickets"][0]
    assert list(ticket) == ["number", "status", "channel", "subject", "customer", "messages"]
    assert (ticket["number"], ticket["status"], ticket["channel"], ticket["subject"]) == (1, "open", "email",
                                                                                           "Broken zip")
    assert ticket["customer"] == {"id": 1, "name": "Ann Example", "identities": [
        {"kind": "email", "value": "ann@example.com"}, {"kind": "whatsapp", "value": "+4915123456789"}]}
    inbound_message, reply = ticket["messages"]
    assert set(inbound_message) == EXPECTED_MESSAGE_KEYS
    assert inbound_message == {
        "direction": "inbound", "channel": "email", "external_id": "<a1@example.com>",
        "sender": {"kind": "email", "value": "ann@example.com", "name": "Ann Example"},
        "subject": "Broken zip", "text": "The zip is broken.", "auto_generated": False,
        "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "size": 123}],
        "created_at": "2026-11-02T10:00:00+00:00",
    }
    assert reply["direction"] == "outbound" and reply["sender"] == {
        "kind": "email", "value": "support@shop.test", "name": "Bo Agent"} and reply["attachments"] == []

    lines = (await export_cli("--jsonl")).stdout.splitlines()
    assert [json.loads(line) for line in lines] == document["tickets"]


async def test_export_costs_one_query_per_batch(session, settings, engine):
    await seed(session, settings)
    statements = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: statements.append(statement))
    documents = [d async for d in ticket_documents(session, batch=2)]
    assert len(documents) == 5 and sum(len(d["messages"]) for d in documents) == 6
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4  # batches of 2, 2 and 1, then the empty one that ends it
    assert await session.scalar(select(Ticket.number).where(Ticket.id == 1)) == 1
