"""The public endpoint registry: an adapter's webhook is mounted, verified, stored raw and ingested
through the one inbound pipeline; what fails is quarantined with its channel and reason."""
from __future__ import annotations

import json
import logging

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from helpdesk.app import create_app
from helpdesk.files import read_blob
from helpdesk.inbound import pipeline
from helpdesk.models import CustomerIdentity, Message, QuarantinedMessage, Ticket
from helpdesk.web.public import PublicEndpoints
from tests.support import echo_adapter


@pytest.fixture
async def client(settings):
    pipeline.register_parser(echo_adapter.PLATFORM, echo_adapter.parse)
    public = PublicEndpoints()
    public.add_webhook(echo_adapter.WEBHOOK)
    async with AsyncTestClient(app=create_app(settings, public=public)) as client:
        yield client


def _body(**fields) -> bytes:
    return json.dumps({"id": "m-1", "from": "u-42", "name": "Una Visitor", "text": "Is the teapot in stock?",
                       "thread": "t-9", **fields}).encode()


async def post(client, body: bytes, signature: str | None = None):
    headers = {"content-type": "application/json",
               "x-echo-signature": signature if signature is not None else echo_adapter.sign(body)}
    return await client.post("/webhooks/echo", content=body, headers=headers)


async def test_signed_webhook_becomes_a_ticket_with_its_raw_body_kept(client, session, settings):
    body = _body()
    response = await post(client, body)  # no CSRF token: public endpoints carry their own credentials
    assert response.status_code == 200, response.text
    assert response.json()["ingested"] == 1 and response.json()["tickets_created"] == 1

    message = await session.scalar(select(Message).where(Message.channel == "echo"))
    assert message.text == "Is the teapot in stock?" and message.account == "echo-bot-1"
    assert read_blob(settings.raw_dir, message.raw_ref) == body
    ticket = await session.get(Ticket, message.ticket_id)
    assert ticket.channel == "echo" and ticket.platform_thread_id == "t-9"
    identity = await session.scalar(select(CustomerIdentity).where(CustomerIdentity.customer_id == ticket.customer_id))
    assert (identity.kind, identity.value, identity.display_name) == ("echo", "u-42", "Una Visitor")

    again = await post(client, body)  # the platform retries a delivery: ingested once
    assert again.json()["duplicates"] == 1
    follow_up = await post(client, _body(id="m-2", text="Hello?"))
    assert follow_up.json()["tickets_created"] == 0
    assert await session.scalar(select(func.count()).select_from(Ticket)) == 1


async def test_bad_signature_is_refused_with_401_and_a_log_line(client, session, caplog):
    with caplog.at_level(logging.WARNING, logger="helpdesk.web.public"):
        response = await post(client, _body(), signature="sha256=" + "0" * 64)
    assert response.status_code == 401
    assert "X-Echo-Signature does not match" in response.json()["detail"]
    assert any("webhook echo" in record.getMessage() for record in caplog.records)
    assert await session.scalar(select(func.count()).select_from(Message)) == 0
    assert await session.scalar(select(func.count()).select_from(QuarantinedMessage)) == 0


async def test_unreadable_payload_is_quarantined_with_channel_and_reason_then_reingested(
        client, session, sessions, settings):
    body = b'{"id": "m-7", "text": "no sender"}'
    response = await post(client, body)
    assert response.status_code == 422
    row = await session.scalar(select(QuarantinedMessage))
    assert (row.channel, row.account) == ("echo", "echo-bot-1")
    assert row.reason.startswith("UnreadablePayload: not an echo message") and "from" in row.reason
    assert response.json()["quarantine_ids"] == [row.id]
    assert read_blob(settings.raw_dir, row.raw_ref) == body  # nothing lost

    # the adapter is fixed (senders without "from" are read as anonymous): re-ingest goes through
    def lenient(raw, *, account, raw_ref):
        fixed = json.loads(raw)
        fixed.setdefault("from", "anonymous-7")
        return echo_adapter.parse(json.dumps(fixed).encode(), account=account, raw_ref=raw_ref)

    pipeline.register_parser("echo", lenient)
    try:
        outcome = await pipeline.reingest(sessions, row.id, settings=settings)
    finally:
        pipeline.register_parser("echo", echo_adapter.parse)
    assert outcome.status == "ingested"
    row_id = row.id
    session.expire_all()
    resolved = await session.get(QuarantinedMessage, row_id)
    assert resolved.resolved_at is not None and resolved.resolved_ticket_id == outcome.result.ticket_id


async def test_oversized_body_is_refused_before_it_is_read(client, session):
    response = await post(client, _body(text="x" * 10_000))
    assert response.status_code == 413
    assert await session.scalar(select(func.count()).select_from(QuarantinedMessage)) == 0


async def test_subscription_handshake_answers_the_challenge_only_with_the_right_token(client):
    ok = await client.get("/webhooks/echo", params={"token": "verify-me", "challenge": "12345"})
    assert ok.status_code == 200 and ok.text == "12345"
    refused = await client.get("/webhooks/echo", params={"token": "guess", "challenge": "12345"})
    assert refused.status_code == 403
