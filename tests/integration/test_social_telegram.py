"""Telegram through the real app and the Bot API simulator (a real HTTP server standing in for
api.telegram.org): updates carrying the bot's secret token become tickets, quoted replies thread,
replies go out by sendMessage and sendDocument, retried after a rate limit, failed when the customer
blocked the bot; photos are downloaded through getFile; and the bot token never shows in an error or
a log line."""
from __future__ import annotations

import json
import logging

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from channels.social import telegram
from channels.social.simulator import running
from channels.social.simulator import telegram as simulated
from helpdesk.app import create_app
from helpdesk.channel import Attachment
from helpdesk.files import read_blob
from helpdesk.models import (
    Attachment as StoredAttachment, Customer, CustomerIdentity, Message, QuarantinedMessage, Ticket, utcnow,
)
from helpdesk.social.accounts import create_account, directory, update_account
from helpdesk.tickets import outbox
from helpdesk.web.public import PublicEndpoints
from tests.conftest import CORPUS, free_port

BOT = "7000001"
TOKEN = f"{BOT}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "tg-secret_Token-1"
CUSTOMER = "111111"  # the corpus's private chat: the user's id is the chat's
PDF = b"%PDF-1.4\n% an invoice\n"
JPEG = b"\xff\xd8\xff\xe0 a small photo \xff\xd9"


@pytest.fixture
def platform():
    """The Bot API simulator on a loopback port: (base URL, recorder)."""
    with running() as served:
        yield served


@pytest.fixture
async def account(session, settings, platform):
    url, _ = platform
    row = await create_account(session, settings, platform="telegram", external_id=BOT, name="Shop bot",
                               access_token=TOKEN, verify_token=SECRET, api_base_url=url)
    yield row
    directory.invalidate()


@pytest.fixture
def queued():
    """A broker stand-in: (message id, delay) of each delivery the outbox asked for."""
    asked: list[tuple[int, float]] = []
    outbox.set_enqueuer(lambda message_id, delay: asked.append((message_id, delay)))
    yield asked
    outbox.set_enqueuer(None)


@pytest.fixture
async def client(settings, account):
    telegram.install(settings)  # parser, media fetcher, sender: this process's registries
    public = PublicEndpoints()
    public.add_webhook(telegram.WEBHOOK)
    async with AsyncTestClient(app=create_app(settings, public=public)) as client:
        yield client


def corpus_update(file: str) -> bytes:
    return (CORPUS / "webhooks" / "telegram" / file).read_bytes()


def customer_text(text: str, *, message_id: int, reply_to: int | None = None) -> bytes:
    body = json.loads(simulated.inbound_body("telegram", BOT, CUSTOMER, text, name="Test Firstname Test Lastname",
                                             message_id=str(message_id)))
    if reply_to is not None:
        body["message"]["reply_to_message"] = {"message_id": reply_to, "chat": body["message"]["chat"], "date": 0}
    return json.dumps(body).encode()


async def post(client, body: bytes, secret: str | None = SECRET):
    headers = simulated.signed_headers("telegram", body, secret) if secret else {"content-type": "application/json"}
    return await client.post("/webhooks/telegram", content=body, headers=headers)


async def count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


async def the_ticket(session) -> Ticket:
    return await session.scalar(select(Ticket).execution_options(populate_existing=True))


async def reply(session, settings, text: str = "Your parcel left today.", **options) -> int:
    message = await outbox.queue_reply(session, await the_ticket(session), settings=settings, text=text, **options)
    return message.id


async def reload(session, message_id: int) -> Message:
    return await session.scalar(select(Message).where(Message.id == message_id)
                                .execution_options(populate_existing=True))


def assert_no_token(caplog, *texts: str | None) -> None:
    secret_part = TOKEN.split(":", 1)[1]
    logged = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert logged, "the error path logged nothing"
    for text in [*logged, *filter(None, texts)]:
        assert secret_part not in text, text


# -- webhooks in -----------------------------------------------------------------------------------------

async def test_update_with_the_secret_token_becomes_a_ticket_of_the_telegram_user(client, session):
    response = await post(client, corpus_update("private-text.json"))
    assert response.status_code == 200 and response.json()["tickets_created"] == 1
    ticket = await the_ticket(session)
    assert (ticket.channel, ticket.account, ticket.platform_thread_id) == ("telegram", BOT, f"{BOT}:{CUSTOMER}")
    message = await session.scalar(select(Message))
    assert (message.text, message.external_id, message.sender_value, message.account) == \
        ("Hello, I need your Help", f"{CUSTOMER}:5", CUSTOMER, BOT)
    identity = await session.scalar(select(CustomerIdentity).where(CustomerIdentity.customer_id == ticket.customer_id))
    assert (identity.kind, identity.value, identity.display_name) == \
        ("telegram", CUSTOMER, "Test Firstname Test Lastname")
    assert (await session.get(Customer, ticket.customer_id)).name == "Test Firstname Test Lastname"


@pytest.mark.parametrize("secret", ["not-our-secret", None])
async def test_wrong_or_missing_secret_token_is_refused_and_nothing_is_stored(client, session, caplog, secret):
    with caplog.at_level(logging.WARNING, logger="helpdesk.web.public"):
        response = await post(client, corpus_update("private-text.json"), secret=secret)
    assert response.status_code == 401
    assert "X-Telegram-Bot-Api-Secret-Token" in response.json()["detail"]
    assert SECRET not in response.text and all(SECRET not in r.getMessage() for r in caplog.records)
    assert await count(session, Message) == 0 and await count(session, QuarantinedMessage) == 0


async def test_malformed_update_is_answered_400_logged_and_quarantined(client, session, caplog):
    with caplog.at_level(logging.WARNING, logger="helpdesk.web.public"):
        response = await post(client, b'{"message": {"text": "no update_id"}}')
    assert response.status_code == 400
    row = await session.scalar(select(QuarantinedMessage))
    assert (row.channel, row.account) == ("telegram", BOT) and "update_id" in row.reason
    assert response.json()["quarantine_id"] == row.id
    assert any("webhook telegram" in r.getMessage() and "malformed" in r.getMessage() for r in caplog.records)
    assert await count(session, Message) == 0


async def test_the_same_update_delivered_twice_is_one_message(client, session):
    body = corpus_update("private-start.json")
    assert (await post(client, body)).json()["ingested"] == 1
    assert (await post(client, body)).json()["duplicates"] == 1
    assert await count(session, Message) == 1


async def test_updates_without_a_message_are_accepted_and_store_nothing(client, session):
    response = await post(client, json.dumps({"update_id": 99, "my_chat_member": {"chat": {"id": 1}}}).encode())
    assert response.status_code == 200 and response.json()["ingested"] == 0
    assert await count(session, Message) == 0 and await count(session, QuarantinedMessage) == 0


async def test_an_edit_joins_the_ticket_as_a_message_marked_edited(client, session):
    await post(client, customer_text("Order 1001 is late", message_id=40))
    edit = json.loads(customer_text("Order 1002 is late", message_id=40))
    message = edit.pop("message")
    edit["edited_message"] = {**message, "edit_date": message["date"] + 60}
    assert (await post(client, json.dumps(edit).encode())).json()["ingested"] == 1
    texts = list(await session.scalars(select(Message.text).order_by(Message.id)))
    assert texts == ["Order 1001 is late", "(edited) Order 1002 is late"]
    assert await count(session, Ticket) == 1


# -- replies out -----------------------------------------------------------------------------------------

async def test_reply_goes_out_by_sendmessage_and_its_file_by_senddocument(client, session, settings, platform, queued):
    _, recorder = platform
    answers = []
    recorder.on_sent = lambda platform_name, account_id, request, answer: answers.append((account_id, answer))
    await post(client, corpus_update("private-text.json"))
    message_id = await reply(session, settings, attachments=[Attachment("invoice.pdf", "application/pdf", PDF)])
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"

    text, document = recorder.sent(f"/bot{TOKEN}/")
    assert text.path == f"/bot{TOKEN}/sendMessage"
    assert text.json == {"chat_id": int(CUSTOMER), "text": "Your parcel left today."}
    assert document.path == f"/bot{TOKEN}/sendDocument" and document.form == {"chat_id": CUSTOMER}
    assert document.files["document"] == ("invoice.pdf", "application/pdf", PDF)
    first_id = answers[0][1]["result"]["message_id"]
    assert [account_id for account_id, _ in answers] == [BOT, BOT]
    stored = await reload(session, message_id)
    assert (stored.delivery_status, stored.external_id) == ("sent", f"{CUSTOMER}:{first_id}")


async def test_customer_quoting_our_reply_threads_into_its_ticket(client, session, settings, platform, queued):
    await post(client, corpus_update("private-text.json"))
    message_id = await reply(session, settings)
    await outbox.deliver(session, message_id, settings=settings)
    ours = await reload(session, message_id)
    ticket = await the_ticket(session)
    # without the chat's thread, only the quoted message can lead the answer to this ticket
    await session.execute(update(Ticket).values(platform_thread_id=None))
    await session.commit()

    quoted = int(ours.external_id.split(":")[1])
    response = await post(client, customer_text("Thanks, and the invoice?", message_id=50, reply_to=quoted))
    assert response.json()["tickets_created"] == 0
    answer = await session.scalar(select(Message).where(Message.external_id == f"{CUSTOMER}:50"))
    assert answer.ticket_id == ticket.id and answer.in_reply_to == ours.external_id


async def test_long_reply_goes_out_in_parts_within_telegrams_limit(client, session, settings, platform, queued):
    _, recorder = platform
    await post(client, corpus_update("private-text.json"))
    long_text = "\n\n".join(f"Step {n}: " + ("check the parcel label. " * 40).strip() for n in range(1, 11))
    message_id = await reply(session, settings, long_text)
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    parts = [r.json["text"] for r in recorder.sent("/sendMessage")]
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == long_text


async def test_rate_limit_is_retried_after_telegrams_retry_after_then_sent(
        client, session, settings, platform, queued, caplog):
    _, recorder = platform
    await post(client, corpus_update("private-text.json"))
    message_id = await reply(session, settings)
    recorder.fail_next(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                             "parameters": {"retry_after": 7}}, path="sendMessage")
    with caplog.at_level(logging.DEBUG):
        assert await outbox.deliver(session, message_id, settings=settings) == "queued"
    waiting = await reload(session, message_id)
    assert waiting.delivery_error == "Telegram sendMessage: Too Many Requests: retry after 7 (error 429)"
    assert queued[-1] == (message_id, 7)
    assert_no_token(caplog, waiting.delivery_error)

    await session.execute(update(Message).where(Message.id == message_id).values(next_attempt_at=utcnow()))
    await session.commit()
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    assert len(recorder.sent("/sendMessage")) == 2


async def test_blocked_bot_fails_the_reply_with_telegrams_reason(client, session, settings, platform, queued, caplog):
    _, recorder = platform
    await post(client, corpus_update("private-text.json"))
    message_id = await reply(session, settings)
    recorder.fail_next(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
                       path="sendMessage")
    with caplog.at_level(logging.DEBUG):
        assert await outbox.deliver(session, message_id, settings=settings) == "failed"
    failed = await reload(session, message_id)
    assert failed.delivery_status == "failed"
    assert failed.delivery_error.startswith(
        "Telegram sendMessage: Forbidden: bot was blocked by the user (error 403): the customer blocked the bot")
    assert_no_token(caplog, failed.delivery_error)


async def test_revoked_token_and_unreachable_api_never_show_the_token(
        client, session, settings, platform, queued, caplog, monkeypatch):
    await post(client, corpus_update("private-text.json"))
    monkeypatch.setattr(simulated, "_revoked", set())
    simulated.revoke(TOKEN)
    first = await reply(session, settings)
    with caplog.at_level(logging.DEBUG):
        assert await outbox.deliver(session, first, settings=settings) == "failed"
    refused = await reload(session, first)
    assert "(error 401): Telegram does not know this bot token" in refused.delivery_error

    account = await directory.account(settings, "telegram", BOT)
    await session.execute(update(Message).where(Message.id == first).values(delivery_status="sent"))
    await update_account(session, settings, account.id, api_base_url=f"http://127.0.0.1:{free_port()}")
    second = await reply(session, settings, "Still there?")
    with caplog.at_level(logging.DEBUG):
        assert await outbox.deliver(session, second, settings=settings) == "queued"  # worth trying again
    unreachable = await reload(session, second)
    assert "could not reach http://127.0.0.1:" in unreachable.delivery_error
    assert_no_token(caplog, refused.delivery_error, unreachable.delivery_error)


# -- files in, webhook set-up ------------------------------------------------------------------------------

async def test_photo_is_downloaded_through_getfile_into_an_attachment(client, session, settings, platform, caplog):
    _, recorder = platform
    recorder.media["photofileid3"] = ("image/jpeg", JPEG)
    with caplog.at_level(logging.DEBUG):
        response = await post(client, corpus_update("private-photo.json"))
    assert response.json()["ingested"] == 1
    message = await session.scalar(select(Message))
    assert message.text == "caption 123<b>abc</b>"
    [attachment] = list(await session.scalars(select(StoredAttachment)))
    assert (attachment.message_id, attachment.content_type, attachment.size) == (message.id, "image/jpeg", len(JPEG))
    assert read_blob(settings.attachments_dir, attachment.sha256) == JPEG
    get_file, download = recorder.requests[-2:]
    assert get_file.path == f"/bot{TOKEN}/getFile" and get_file.json == {"file_id": "photofileid3"}
    assert download.path == f"/file/bot{TOKEN}/photos/photofileid3.jpg"
    assert_no_token(caplog)  # httpx logged both requests: without the token


async def test_file_telegram_cannot_serve_is_named_in_the_message_without_the_token(client, session, caplog):
    with caplog.at_level(logging.DEBUG):
        assert (await post(client, corpus_update("private-document.json"))).json()["ingested"] == 1
    message = await session.scalar(select(Message))
    assert message.text == ("[document.pdf could not be downloaded: Telegram getFile: Bad Request: invalid file_id "
                            "(error 400)]")
    assert await count(session, StoredAttachment) == 0
    assert_no_token(caplog, message.text)


async def test_set_webhook_sends_the_url_and_the_secret_token(settings, account, platform):
    _, recorder = platform
    bot = await directory.account(settings, "telegram", BOT)
    answer = await telegram.set_webhook(bot, "https://help.example.test/webhooks/telegram")
    assert answer == {"ok": True, "result": True, "description": "Webhook was set"}
    [request] = recorder.sent("/setWebhook")
    assert request.path == f"/bot{TOKEN}/setWebhook"
    assert request.json == {"url": "https://help.example.test/webhooks/telegram", "secret_token": SECRET,
                            "allowed_updates": ["message", "edited_message", "channel_post", "edited_channel_post",
                                                "callback_query"]}
    me = await telegram.get_me(bot)
    assert me["id"] == int(BOT) and me["is_bot"] is True
