"""The admin quarantine screen: what failed, from any channel, with its reason; raw download; re-ingest."""
from __future__ import annotations

import json

from sqlalchemy import select

from helpdesk.inbound import pipeline
from helpdesk.models import QuarantinedMessage, Ticket
from tests.support import echo_adapter
from tests.support.console import app, client, shop, sign_in  # noqa: F401


async def test_admin_sees_quarantined_webhook_and_mail_reingests_after_a_fix(client, sessions, session, settings):
    pipeline.register_parser("echo", echo_adapter.parse)
    payload = b'{"id": "q-1", "text": "hi, no sender"}'
    [broken] = await pipeline.receive(sessions, "echo", [payload], settings=settings, account="echo-bot-1")
    assert broken.status == "quarantined"

    token = await sign_in(client, "admin")
    page = await client.get("/console/admin/quarantine")
    assert page.status_code == 200
    assert "echo-bot-1" in page.text and "UnreadablePayload: not an echo message" in page.text

    raw = await client.get(f"/console/admin/quarantine/{broken.quarantine_id}/raw")
    assert raw.content == payload
    assert raw.headers["content-disposition"].startswith("attachment;")
    assert raw.headers["content-type"] == "application/octet-stream"

    still = await client.post(f"/console/admin/quarantine/{broken.quarantine_id}/reingest",
                              data={"_csrf_token": token}, follow_redirects=False)
    assert still.status_code == 422 and "Still failing" in still.text

    def fixed(raw, *, account, raw_ref):  # the adapter learnt to read messages without a sender
        return echo_adapter.parse(json.dumps({"from": "anon", **json.loads(raw)}).encode(), account=account,
                                  raw_ref=raw_ref)

    pipeline.register_parser("echo", fixed)
    try:
        done = await client.post(f"/console/admin/quarantine/{broken.quarantine_id}/reingest",
                                 data={"_csrf_token": token}, follow_redirects=False)
    finally:
        pipeline.register_parser("echo", echo_adapter.parse)
    assert done.status_code == 303
    ticket = await session.scalar(select(Ticket).where(Ticket.channel == "echo"))
    assert done.headers["location"] == f"/console/tickets/{ticket.id}"
    row = await session.scalar(select(QuarantinedMessage).where(QuarantinedMessage.id == broken.quarantine_id))
    assert row.resolved_ticket_id == ticket.id
    assert "echo-bot-1" not in (await client.get("/console/admin/quarantine")).text


async def test_agents_cannot_open_the_quarantine(client):
    await sign_in(client, "agent")
    assert (await client.get("/console/admin/quarantine")).status_code == 403


async def test_admin_dismisses_garbage_and_its_raw_bytes_stay(client, sessions, session, settings):
    from helpdesk.files import read_blob

    pipeline.register_parser("echo", echo_adapter.parse)
    [garbage] = await pipeline.receive(sessions, "echo", [b"\x00\xff not json"], settings=settings, account=None)
    token = await sign_in(client, "admin")
    page = await client.post(f"/console/admin/quarantine/{garbage.quarantine_id}/dismiss", data={"_csrf_token": token})
    assert page.status_code == 200 and "Dismissed" in page.text
    assert f'data-quarantine-id="{garbage.quarantine_id}"' not in page.text
    assert read_blob(settings.raw_dir, garbage.raw_ref) == b"\x00\xff not json"
    again = await client.post(f"/console/admin/quarantine/{garbage.quarantine_id}/dismiss", data={"_csrf_token": token})
    assert again.status_code == 400
