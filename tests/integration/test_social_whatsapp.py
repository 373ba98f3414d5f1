"""WhatsApp through the real app and the platform simulator (a real HTTP server standing in for the Graph
API): signed webhooks become tickets on the customer with that phone number, statuses move our replies
forward, replies (text, files, templates) go out, retried on 429/5xx, failed on a permanent error or
outside the 24-hour window, and files customers send are downloaded into attachments."""
from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from channels.social import whatsapp
from channels.social.simulator import running
from channels.social.simulator import whatsapp as simulated
from helpdesk.app import create_app
from helpdesk.channel import Attachment
from helpdesk.models import (
    Attachment as StoredAttachment, Customer, CustomerIdentity, Message, QuarantinedMessage, Ticket, utcnow,
)
from helpdesk.social.accounts import create_account, directory
from helpdesk.tickets import outbox
from helpdesk.web.public import PublicEndpoints
from tests.integration.test_console_tickets import queued  # noqa: F401

NUMBER = "106540352242922"  # our phone_number_id
APP_SECRET = "wa-app-secret"
CUSTOMER = "+4915112345678"


@pytest.fixture
def platform():
    """The Graph API simulator on a loopback port: (base URL, recorder)."""
    with running() as served:
        yield served


@pytest.fixture
async def account(session, settings, platform):
    url, _ = platform
    row = await create_account(session, settings, platform="whatsapp", external_id=NUMBER, name="Shop WhatsApp",
                               access_token="wa-system-user-token", app_secret=APP_SECRET, verify_token="wa-verify",
                               api_base_url=url, options={"waba_id": "waba-1"})
    yield row
    directory.invalidate()


@pytest.fixture
async def client(settings, account):
    whatsapp.install(settings)  # parser, media fetcher, sender: this process's registries
    public = PublicEndpoints()
    public.add_webhook(whatsapp.WEBHOOK)
    async with AsyncTestClient(app=create_app(settings, public=public)) as client:
        yield client


def customer_message(text: str = "Where is my order #5001?", *, message_id: str = "wamid.IN1",
                     hours_ago: float = 0, image: str | None = None) -> bytes:
    body = json.loads(simulated.inbound_body("whatsapp", NUMBER, CUSTOMER, text, name="Mia Kunde",
                                             message_id=message_id))
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["timestamp"] = str(int(time.time() - hours_ago * 3600))
    if image:
        message.update(type="image", image={"id": image, "mime_type": "image/png", "caption": text})
        del message["text"]
    return json.dumps(body).encode()


async def post(client, body: bytes, secret: str | None = APP_SECRET):
    headers = simulated.signed_headers("whatsapp", body, secret) if secret else {"content-type": "application/json"}
    return await client.post("/webhooks/whatsapp", content=body, headers=headers)


async def count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


async def the_ticket(session) -> Ticket:
    return await session.scalar(select(Ticket).execution_options(populate_existing=True))


async def reply(session, settings, text: str = "It ships today.", **options) -> int:
    ticket = await the_ticket(session)
    message = await outbox.queue_reply(session, ticket, settings=settings, text=text, **options)
    return message.id


async def reload(session, message_id: int) -> Message:
    return await session.scalar(select(Message).where(Message.id == message_id)
                                .execution_options(populate_existing=True))


async def test_subscription_handshake_answers_the_challenge_for_our_verify_token(client):
    ok = await client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "wa-verify",
                                                         "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                            "hub.challenge": "1"})
    assert wrong.status_code == 403


async def test_signed_message_becomes_a_ticket_of_the_e164_customer_once(client, session):
    response = await post(client, customer_message())
    assert response.status_code == 200 and response.json()["tickets_created"] == 1
    ticket = await the_ticket(session)
    assert (ticket.channel, ticket.account, ticket.platform_thread_id) == \
        ("whatsapp", NUMBER, f"{NUMBER}:4915112345678")
    message = await session.scalar(select(Message))
    assert (message.text, message.external_id, message.sender_value) == \
        ("Where is my order #5001?", "wamid.IN1", CUSTOMER)
    identity = await session.scalar(select(CustomerIdentity).where(CustomerIdentity.customer_id == ticket.customer_id))
    assert (identity.kind, identity.value, identity.display_name) == ("whatsapp", CUSTOMER, "Mia Kunde")

    again = await post(client, customer_message())  # WhatsApp delivers again when unsure: ingested once
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert await count(session, Message) == 1 and await count(session, Ticket) == 1


async def test_a_customer_with_that_phone_number_gets_the_ticket(client, session):
    known = Customer(name="Mia Kunde")
    session.add(known)
    await session.flush()
    session.add(CustomerIdentity(customer_id=known.id, kind="phone", value=CUSTOMER))
    await session.commit()
    assert (await post(client, customer_message())).status_code == 200
    ticket = await the_ticket(session)
    assert ticket.customer_id == known.id and await count(session, Customer) == 1
    kinds = set(await session.scalars(select(CustomerIdentity.kind).where(CustomerIdentity.customer_id == known.id)))
    assert kinds == {"phone", "whatsapp"}


@pytest.mark.parametrize("secret", ["not-the-app-secret", None])
async def test_wrong_or_missing_signature_is_refused_and_nothing_stored(client, session, secret, caplog):
    with caplog.at_level(logging.WARNING, logger="helpdesk.web.public"):
        response = await post(client, customer_message(), secret=secret)
    assert response.status_code == 401 and "X-Hub-Signature-256" in response.json()["detail"]
    assert any("webhook whatsapp" in r.getMessage() for r in caplog.records)
    assert await count(session, Message) == 0 and await count(session, QuarantinedMessage) == 0


async def test_a_malformed_body_is_answered_400_quarantined_and_logged(client, session, caplog):
    body = json.dumps({"object": "page", "entry": []}).encode()
    with caplog.at_level(logging.WARNING, logger="helpdesk.web.public"):
        response = await post(client, body)
    assert response.status_code == 400 and "whatsapp_business_account" in response.json()["detail"]
    row = await session.scalar(select(QuarantinedMessage))
    assert row.channel == "whatsapp" and row.account == NUMBER and row.id == response.json()["quarantine_id"]
    assert any("malformed" in r.getMessage() for r in caplog.records)
    assert await count(session, Message) == 0


async def test_statuses_move_our_reply_sent_delivered_read(client, session, settings, queued, platform):
    _, recorder = platform
    await post(client, customer_message())
    message_id = await reply(session, settings)
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    [sent] = recorder.sent("/messages")
    answer = {"messages": [{"id": (await reload(session, message_id)).external_id}]}
    assert answer["messages"][0]["id"].startswith("wamid.")
    seen = []
    for body in simulated.receipt_bodies("whatsapp", NUMBER, sent.json, answer):
        assert (await post(client, body)).status_code == 200
        seen.append((await reload(session, message_id)).delivery_status)
    assert seen == ["sent", "delivered", "read"]
    message = await reload(session, message_id)
    assert message.delivered_at is not None and message.read_at is not None


async def test_a_failed_status_shows_the_platforms_error_on_our_reply(client, session, settings, queued, platform):
    await post(client, customer_message())
    message_id = await reply(session, settings)
    await outbox.deliver(session, message_id, settings=settings)
    wamid = (await reload(session, message_id)).external_id
    failed = json.loads(simulated.receipt_bodies("whatsapp", NUMBER, {"to": "4915112345678"},
                                                 {"messages": [{"id": wamid}]})[0])
    failed["entry"][0]["changes"][0]["value"]["statuses"][0].update(status="failed", errors=[{
        "code": 131026, "title": "Message undeliverable",
        "error_data": {"details": "The recipient's phone number is not a WhatsApp number"}}])
    assert (await post(client, json.dumps(failed).encode())).status_code == 200
    message = await reload(session, message_id)
    assert message.delivery_status == "failed"
    assert message.delivery_error == ("Message undeliverable: The recipient's phone number is not a WhatsApp "
                                      "number (code 131026)")


async def test_text_reply_goes_to_the_number_with_the_token(client, session, settings, queued, platform):
    _, recorder = platform
    await post(client, customer_message())
    message_id = await reply(session, settings, "Your parcel ships today.")
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    [request] = recorder.sent(f"/{NUMBER}/messages")
    assert request.headers["authorization"] == "Bearer wa-system-user-token"
    assert request.json == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915112345678",
                            "type": "text", "text": {"body": "Your parcel ships today.", "preview_url": False}}


async def test_a_document_is_uploaded_then_sent_by_its_media_id(client, session, settings, queued, platform):
    _, recorder = platform
    await post(client, customer_message())
    invoice = Attachment("invoice-5001.pdf", "application/pdf", b"%PDF-1.4 invoice")
    message_id = await reply(session, settings, "Here is your invoice.", attachments=[invoice])
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    [upload] = recorder.sent("/media")
    assert upload.form["messaging_product"] == "whatsapp"
    assert upload.files["file"] == ("invoice-5001.pdf", "application/pdf", b"%PDF-1.4 invoice")
    text, document = [r.json for r in recorder.sent("/messages")]
    assert text["text"]["body"] == "Here is your invoice."
    media_id = document["document"]["id"]
    assert document["type"] == "document" and document["document"]["filename"] == "invoice-5001.pdf"
    assert recorder.media[media_id] == ("application/pdf", b"%PDF-1.4 invoice")


async def test_a_template_goes_out_even_after_the_window_closed(client, session, settings, queued, platform):
    _, recorder = platform
    await post(client, customer_message(hours_ago=30))
    template = {"name": "order_update", "language": "en_US", "parameters": ["#5001"]}
    message_id = await reply(session, settings, "Hello, here is news about your order #5001.", template=template)
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    [request] = recorder.sent("/messages")
    assert request.json["type"] == "template" and request.json["template"] == {
        "name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "#5001"}]}]}


async def test_outside_the_window_a_free_form_reply_fails_without_calling_the_platform(
        client, session, settings, queued, platform):
    _, recorder = platform
    await post(client, customer_message(hours_ago=25))
    message_id = await reply(session, settings)
    assert await outbox.deliver(session, message_id, settings=settings) == "failed"
    message = await reload(session, message_id)
    assert message.delivery_error.startswith("WhatsApp's 24-hour window closed at ")
    assert message.delivery_error.endswith("UTC: send an approved template instead")
    assert recorder.sent("/messages") == []


async def test_the_platforms_window_error_reads_the_same(client, session, settings, queued, platform):
    _, recorder = platform
    await post(client, customer_message())
    recorder.fail_next(400, {"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException",
                                       "code": 131047, "fbtrace_id": "A1"}}, path="/messages")
    message_id = await reply(session, settings)
    assert await outbox.deliver(session, message_id, settings=settings) == "failed"
    assert "24-hour window has closed: send an approved template instead" in \
        (await reload(session, message_id)).delivery_error


@pytest.mark.parametrize("status", [429, 500])
async def test_rate_limit_or_outage_is_retried_then_sent_once(client, session, settings, queued, platform, status):
    _, recorder = platform
    await post(client, customer_message())
    error = {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429,
                       "fbtrace_id": "A2"}} if status == 429 else \
        {"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1, "is_transient": True}}
    recorder.fail_next(status, error, path="/messages", headers={"retry-after": "7"} if status == 429 else None)
    message_id = await reply(session, settings)
    assert await outbox.deliver(session, message_id, settings=settings) == "queued"
    waiting = await reload(session, message_id)
    assert waiting.delivery_error and f"HTTP {status}" in waiting.delivery_error
    if status == 429:  # the platform said when: no sooner
        assert timedelta(seconds=5) < waiting.next_attempt_at - utcnow() <= timedelta(seconds=7)
    await session.execute(update(Message).where(Message.id == message_id)
                          .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    await session.commit()
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    assert len(recorder.sent("/messages")) == 2  # the refused attempt, then the one that went out
    assert (await reload(session, message_id)).external_id.startswith("wamid.")


async def test_a_permanent_error_fails_the_reply_with_the_platforms_words(client, session, settings, queued, platform):
    _, recorder = platform
    await post(client, customer_message())
    recorder.fail_next(400, {"error": {"message": "(#131030) Recipient phone number not in allowed list",
                                       "type": "OAuthException", "code": 131030, "fbtrace_id": "A3"}},
                       path="/messages")
    message_id = await reply(session, settings)
    assert await outbox.deliver(session, message_id, settings=settings) == "failed"
    assert (await reload(session, message_id)).delivery_error == (
        "WhatsApp text message: (#131030) Recipient phone number not in allowed list (HTTP 400, code 131030)")


async def test_an_image_the_customer_sent_becomes_an_attachment(client, session, platform):
    _, recorder = platform
    recorder.media["778899"] = ("image/png", b"\x89PNG broken teapot")
    assert (await post(client, customer_message("The teapot arrived like this", image="778899"))).status_code == 200
    message = await session.scalar(select(Message))
    assert message.text == "The teapot arrived like this"
    stored = await session.scalar(select(StoredAttachment).where(StoredAttachment.message_id == message.id))
    assert (stored.filename, stored.content_type, stored.size) == ("image-778899.png", "image/png", 18)
    fetched = [r for r in recorder.requests if r.method == "GET"]
    assert [r.path for r in fetched] == ["/778899", simulated.DOWNLOAD_PATH.rstrip("/")]
    assert all(r.headers["authorization"] == "Bearer wa-system-user-token" for r in fetched)


async def test_media_the_platform_no_longer_has_is_named_in_the_message(client, session):
    assert (await post(client, customer_message("photo", image="gone-1"))).status_code == 200
    message = await session.scalar(select(Message))
    assert "image could not be downloaded" in message.text and "gone-1" not in message.text.split("[")[0]
    assert await count(session, StoredAttachment) == 0
