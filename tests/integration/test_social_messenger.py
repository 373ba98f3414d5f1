"""Messenger and Instagram through the real app: signed webhooks become tickets on the customer's
identity, and replies go out through the outbox to the platform simulator (a real HTTP server
speaking Meta's Send API), with its receipts, rate limits and refusals."""
from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from channels.social import instagram, messenger
from channels.social.simulator import messenger as simulator
from channels.social.simulator import running
from helpdesk import db
from helpdesk.app import create_app
from helpdesk.channel import Attachment as OutAttachment
from helpdesk.channel import register_sender
from helpdesk.files import read_blob
from helpdesk.inbound import pipeline
from helpdesk.models import CustomerIdentity, Message, QuarantinedMessage, Ticket, utcnow
from helpdesk.social.accounts import create_account
from helpdesk.tickets import outbox
from helpdesk.web.public import PublicEndpoints

PAGE = "104123456789012"
IG_ACCOUNT = "17841400000000001"
PSID = "7234567890123456"
SECRET = "meta-app-secret"
TOKEN = "EAAG-page-token"


@pytest.fixture
def platform_api():
    with running() as (base_url, recorder):
        yield base_url, recorder


@pytest.fixture
async def client(settings, session, platform_api):
    base_url, _ = platform_api
    public = PublicEndpoints()
    for module, sender, account in ((messenger, messenger.MessengerSender, PAGE),
                                    (instagram, instagram.InstagramSender, IG_ACCOUNT)):
        pipeline.register_parser(module.CHANNEL, module.parse)
        pipeline.register_media_fetcher(module.CHANNEL, messenger.fetch_media)
        register_sender(sender(settings))
        public.add_webhook(module.WEBHOOK)
        await create_account(session, settings, platform=module.CHANNEL, external_id=account,
                             name=f"Teapot Shop on {module.CHANNEL}", access_token=TOKEN, app_secret=SECRET,
                             verify_token="verify-me", api_base_url=base_url)
    async with AsyncTestClient(app=create_app(settings, public=public)) as client:
        yield client


async def post(client, body: bytes, *, platform: str = "messenger", headers: dict | None = None):
    return await client.post(f"/webhooks/{platform}", content=body,
                             headers=headers if headers is not None else simulator.signed_headers(platform, body, SECRET))


async def customer_writes(client, session, text="Is the blue teapot in stock?", *, mid="m_first",
                          platform="messenger", account=PAGE) -> Message:
    response = await post(client, simulator.inbound_body(platform, account, PSID, text, message_id=mid),
                          platform=platform)
    assert response.status_code == 200, response.text
    return await session.scalar(select(Message).where(Message.external_id == mid))


async def reply(session, settings, inbound_id: int, text="Yes, we have 4 left.", **options) -> Message:
    ticket = await session.get(Ticket, (await session.get(Message, inbound_id)).ticket_id)
    return await outbox.queue_reply(session, ticket, settings=settings, text=text, **options)


async def deliver(session, settings, message_id: int) -> Message:
    """What the outbox actor does: deliver in a session of its own; then the row as it is now."""
    async with db.sessions(settings)() as own:
        status = await outbox.deliver(own, message_id, settings=settings)
    session.expire_all()
    message = await session.get(Message, message_id)
    assert message.delivery_status == status
    return message


# -- in ------------------------------------------------------------------------------------------------

async def test_signed_webhook_becomes_a_ticket_on_the_customers_messenger_identity(client, session):
    message = await customer_writes(client, session)
    assert (message.channel, message.text, message.account) == ("messenger", "Is the blue teapot in stock?", PAGE)
    ticket = await session.get(Ticket, message.ticket_id)
    assert (ticket.channel, ticket.account, ticket.platform_thread_id) == ("messenger", PAGE, f"{PAGE}:{PSID}")
    identity = await session.scalar(select(CustomerIdentity).where(CustomerIdentity.customer_id == ticket.customer_id))
    assert (identity.kind, identity.value) == ("messenger", PSID)

    follow_up = await customer_writes(client, session, "Also in green?", mid="m_second")
    assert follow_up.ticket_id == ticket.id  # one customer on one page: one conversation


async def test_the_same_delivery_twice_is_one_message(client, session):
    body = simulator.inbound_body("messenger", PAGE, PSID, "hello", message_id="m_once")
    assert (await post(client, body)).json()["ingested"] == 1
    again = await post(client, body)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert await session.scalar(select(func.count()).select_from(Message)) == 1


@pytest.mark.parametrize("headers", [
    {"content-type": "application/json"},
    {"content-type": "application/json", "x-hub-signature-256": "sha256=" + "0" * 64},
], ids=["missing", "wrong"])
async def test_unsigned_or_wrongly_signed_webhook_is_refused_and_nothing_stored(client, session, headers, caplog):
    with caplog.at_level(logging.WARNING, logger="helpdesk.web.public"):
        response = await post(client, simulator.inbound_body("messenger", PAGE, PSID, "hi"), headers=headers)
    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.json()["detail"]
    assert await session.scalar(select(func.count()).select_from(Message)) == 0
    assert await session.scalar(select(func.count()).select_from(QuarantinedMessage)) == 0


async def test_an_instagram_signature_is_not_a_messenger_one(client, session, settings):
    body = simulator.inbound_body("instagram", IG_ACCOUNT, PSID, "hi")
    signed = simulator.signed_headers("instagram", body, "another-app-secret")
    assert (await post(client, body, platform="instagram", headers=signed)).status_code == 401


@pytest.mark.parametrize("body, reason", [
    (b'{"object": "page", "entry": [', "not JSON"),
    (json.dumps({"object": "instagram", "entry": []}).encode(), "expected 'page'"),
], ids=["malformed-json", "wrong-object"])
async def test_a_body_that_is_not_a_messenger_webhook_is_400_logged_and_quarantined(
        client, session, settings, body, reason, caplog):
    with caplog.at_level(logging.WARNING, logger="helpdesk.web.public"):
        response = await post(client, body)
    assert response.status_code == 400 and reason in response.json()["detail"]
    assert any("webhook messenger" in r.getMessage() and "quarantined" in r.getMessage() for r in caplog.records)
    row = await session.scalar(select(QuarantinedMessage))
    assert row.channel == "messenger" and reason in row.reason
    assert read_blob(settings.raw_dir, row.raw_ref) == body
    assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_subscription_handshake_answers_the_challenge_only_with_the_right_token(client):
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    ok = await client.get("/webhooks/messenger", params={**params, "hub.verify_token": "verify-me"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    refused = await client.get("/webhooks/messenger", params={**params, "hub.verify_token": "guess"})
    assert refused.status_code == 403


async def test_a_customers_photo_is_downloaded_from_the_platform_into_an_attachment(client, session, settings,
                                                                                    platform_api):
    base_url, recorder = platform_api
    png = b"\x89PNG\r\n\x1a\n" + b"teapot" * 100
    recorder.media["asset-1"] = ("image/png", png)
    body = json.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1700000000000, "messaging": [{
        "sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1700000000000,
        "message": {"mid": "m_photo", "text": "This one", "attachments": [
            {"type": "image", "payload": {"url": f"{base_url}/cdn/asset-1"}},
            {"type": "file", "payload": {"url": f"{base_url}/cdn/expired-asset"}}]}}]}]}).encode()
    assert (await post(client, body)).status_code == 200
    message = await session.scalar(select(Message).where(Message.external_id == "m_photo"))
    await session.refresh(message, ["attachments"])
    [attachment] = message.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == ("image.png", "image/png", len(png))  # named by kind: the URL has no name
    assert read_blob(settings.attachments_dir, attachment.sha256) == png
    assert message.text.startswith("This one\n[") and "could not be downloaded" in message.text  # the expired link


# -- out -----------------------------------------------------------------------------------------------

async def test_reply_round_trip_then_receipts_mark_it_delivered(client, session, settings, platform_api):
    _, recorder = platform_api
    inbound_id = (await customer_writes(client, session)).id
    queued = await reply(session, settings, inbound_id)
    sent = await deliver(session, settings, queued.id)
    assert sent.delivery_status == "sent" and sent.delivery_error is None

    [request] = recorder.sent("/me/messages")
    assert request.query == {"access_token": TOKEN}
    assert request.json == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                            "message": {"text": "Yes, we have 4 left."}}
    assert sent.external_id.startswith("m_")  # the platform's id: what its receipts name

    sent_id, answer = sent.id, {"recipient_id": PSID, "message_id": sent.external_id}
    delivered, read = simulator.receipt_bodies("messenger", PAGE, request.json, answer)
    assert (await post(client, delivered)).status_code == 200
    session.expire_all()
    assert (await session.get(Message, sent_id)).delivery_status == "delivered"
    # Messenger's read receipt is a watermark naming no message: the reply stays "delivered", nothing breaks
    assert (await post(client, read)).status_code == 200
    session.expire_all()
    message = await session.get(Message, sent_id)
    assert message.delivery_status == "delivered" and message.delivered_at is not None

    reaction = json.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1700000000000, "messaging": [{
        "sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1700000000000,
        "reaction": {"mid": answer["message_id"], "action": "react", "reaction": "love",
                     "emoji": "\u2764\ufe0f"}}]}]}).encode()
    assert (await post(client, reaction)).json()["ingested"] == 0
    session.expire_all()
    assert (await session.get(Message, sent_id)).reaction == "\u2764\ufe0f"
    assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
    assert await session.scalar(select(func.count()).select_from(Message)) == 2  # receipts open nothing


async def test_instagram_reply_round_trip_and_its_read_receipt(client, session, settings, platform_api):
    _, recorder = platform_api
    inbound = await customer_writes(client, session, "Do you ship to Vienna?", mid="ig_m_1", platform="instagram",
                                    account=IG_ACCOUNT)
    assert (inbound.channel, inbound.sender_kind, inbound.account) == ("instagram", "instagram", IG_ACCOUNT)
    inbound_id = inbound.id
    sent = await deliver(session, settings, (await reply(session, settings, inbound_id, "We do!")).id)
    assert sent.delivery_status == "sent"
    [request] = recorder.sent("/me/messages")
    assert request.json["recipient"] == {"id": PSID} and request.json["message"] == {"text": "We do!"}

    sent_id = sent.id
    [read] = simulator.receipt_bodies("instagram", IG_ACCOUNT, request.json,
                                      {"recipient_id": PSID, "message_id": sent.external_id})
    assert (await post(client, read, platform="instagram")).status_code == 200
    session.expire_all()
    message = await session.get(Message, sent_id)
    assert message.delivery_status == "read" and message.read_at is not None


async def test_long_reply_and_a_file_go_as_several_messages(client, session, settings, platform_api):
    _, recorder = platform_api
    inbound_id = (await customer_writes(client, session)).id
    text = " ".join(["Our teapots are glazed by hand."] * 100)  # 3199 characters
    photo = OutAttachment("teapot.png", "image/png", b"\x89PNG teapot")
    sent = await deliver(session, settings, (await reply(session, settings, inbound_id, text, attachments=[photo])).id)
    assert sent.delivery_status == "sent"
    first, second, upload = recorder.sent("/me/messages")
    assert len(first.json["message"]["text"]) <= 2000 and len(second.json["message"]["text"]) <= 2000
    assert first.json["message"]["text"] + " " + second.json["message"]["text"] == text
    assert upload.files["filedata"] == ("teapot.png", "image/png", b"\x89PNG teapot")
    assert json.loads(upload.form["message"]) == {"attachment": {"type": "image", "payload": {"is_reusable": False}}}
    assert json.loads(upload.form["recipient"]) == {"id": PSID} and upload.query == {"access_token": TOKEN}


async def test_rate_limit_is_retried_after_the_time_the_platform_asked(client, session, settings, platform_api):
    _, recorder = platform_api
    inbound_id = (await customer_writes(client, session)).id
    recorder.fail_next(429, {"error": {"message": "(#613) Calls to this api have exceeded the rate limit.",
                                       "type": "OAuthException", "code": 613}},
                       path="/me/messages", headers={"Retry-After": "30"})
    queued = await reply(session, settings, inbound_id)
    first = await deliver(session, settings, queued.id)
    assert first.delivery_status == "queued" and "rate limit" in first.delivery_error
    wait = first.next_attempt_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert timedelta(seconds=25) < wait <= timedelta(seconds=30)

    async with db.sessions(settings)() as own:
        assert await outbox.deliver(own, queued.id, settings=settings) == "queued"  # not before its time
    await session.execute(update(Message).where(Message.id == queued.id).values(next_attempt_at=None))
    await session.commit()
    second = await deliver(session, settings, queued.id)
    assert second.delivery_status == "sent" and second.external_id.startswith("m_")
    assert len(recorder.sent("/me/messages")) == 2


async def test_permanent_error_fails_with_the_platforms_words(client, session, settings, platform_api):
    _, recorder = platform_api
    inbound_id = (await customer_writes(client, session)).id
    recorder.fail_next(400, {"error": {"message": "(#100) No matching user found", "type": "OAuthException",
                                       "code": 100, "error_subcode": 2018001}}, path="/me/messages")
    failed = await deliver(session, settings, (await reply(session, settings, inbound_id)).id)
    assert failed.delivery_status == "failed"
    assert "No matching user found" in failed.delivery_error and "code 100" in failed.delivery_error


async def test_reply_after_a_day_is_tagged_human_agent_and_after_a_week_refused(client, session, settings,
                                                                                platform_api):
    _, recorder = platform_api
    inbound = await customer_writes(client, session)
    inbound_id = inbound.id
    await session.execute(update(Message).where(Message.id == inbound_id)
                          .values(created_at=utcnow() - timedelta(days=3)))
    await session.commit()
    tagged = await deliver(session, settings, (await reply(session, settings, inbound_id)).id)
    assert tagged.delivery_status == "sent"
    [request] = recorder.sent("/me/messages")
    assert (request.json["messaging_type"], request.json["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")

    await session.execute(update(Message).where(Message.id == inbound_id)
                          .values(created_at=utcnow() - timedelta(days=8)))
    await session.commit()
    refused = await deliver(session, settings, (await reply(session, settings, inbound_id, "Still there?")).id)
    assert refused.delivery_status == "failed"
    assert refused.delivery_error.startswith("Messenger allows replies only within 7 days of the customer's last")
    assert len(recorder.sent("/me/messages")) == 1  # never tried


async def test_the_simulator_refuses_a_send_without_token_as_graph_does(platform_api):
    import httpx

    base_url, _ = platform_api
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{base_url}/me/messages", json={"recipient": {"id": PSID},
                                                                    "message": {"text": "x"}})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "OAuthException" and response.json()["error"]["code"] == 190


async def test_the_simulator_tells_on_sent_which_page_sent_so_the_demo_can_post_receipts(client, session, settings,
                                                                                        platform_api):
    _, recorder = platform_api
    calls = []
    recorder.on_sent = lambda *args: calls.append(args)
    simulator.register_page(TOKEN, "messenger", PAGE)
    inbound_id = (await customer_writes(client, session)).id
    sent = await deliver(session, settings, (await reply(session, settings, inbound_id)).id)
    [(platform, account_id, request_json, answer)] = calls
    assert (platform, account_id, answer) == ("messenger", PAGE, {"recipient_id": PSID,
                                                                  "message_id": sent.external_id})
    assert request_json["message"] == {"text": "Yes, we have 4 left."}


async def test_a_file_refused_after_the_text_went_out_fails_without_sending_the_text_again(
        client, session, settings, platform_api):
    _, recorder = platform_api
    inbound_id = (await customer_writes(client, session)).id
    recorder.fail_next(500, {"error": {"message": "An unexpected error has occurred. Please retry your request later.",
                                       "type": "OAuthException", "code": 2, "is_transient": True}},
                       path="/me/messages#upload")
    photo = OutAttachment("teapot.png", "image/png", b"\x89PNG teapot")
    failed = await deliver(session, settings, (await reply(session, settings, inbound_id, attachments=[photo])).id)
    assert failed.delivery_status == "failed"  # a retry would send the text a second time
    assert failed.delivery_error.startswith("1 of 2 parts of this reply went out, then: Messenger Send API: "
                                            "An unexpected error has occurred")
    assert [bool(r.files) for r in recorder.sent("/me/messages")] == [False, True]
