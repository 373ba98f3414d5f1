"""Live chat against a real web server and real sockets (tests/support/chat.py), on SQLite and
PostgreSQL: sessions and signed identities, the socket's checks and frames, agents' replies through
the outbox, uploads, limits, and that a visitor token reaches its own conversation only."""
from __future__ import annotations

import asyncio
import io
import uuid
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from sqlalchemy import func, select, update
from websockets.exceptions import ConnectionClosed

from helpdesk.chat import tokens
from helpdesk.inbound.ingest import ingest
from helpdesk.models import (
    Agent, Attachment, ChatConversation, Customer, CustomerIdentity, Message, QuarantinedMessage, Ticket,
)
from helpdesk.staff.agents import create_agent
from helpdesk.tickets import outbox
from helpdesk.tickets.actions import add_note
from tests.e2e.conftest import PASSWORD
from tests.factories import inbound
from tests.support.chat import SHOP, chat  # noqa: F401 - the fixture

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _shop_jwt(secret: str, *, sub: str = "42", email: str | None = "ann@example.com", name: str | None = "Ann Shopper",
              expires_in: int = 600, algorithm: str = "HS256") -> str:
    claims = {"sub": sub, "exp": datetime.now(timezone.utc) + timedelta(seconds=expires_in)}
    if email:
        claims["email"] = email
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret if algorithm != "none" else None, algorithm=algorithm)


async def _conversation(sessions, token: str, settings) -> ChatConversation:
    public_id = tokens.visitor_conversation(settings, token, channel_key="shop")
    async with sessions() as session:
        return await session.scalar(select(ChatConversation).where(ChatConversation.public_id == public_id))


async def _agent(sessions, email: str = "bea@shop.test") -> Agent:
    async with sessions() as session:
        found = await session.scalar(select(Agent).where(Agent.email == email))
        return found or await create_agent(session, email=email, name="Bea Agent", role="agent",
                                           password=PASSWORD)


async def _reply(sessions, settings, chat, ticket_id: int, text: str) -> Message:
    """An agent's reply through the outbox, delivered as the worker would."""
    agent = await _agent(sessions)
    async with sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        message = await outbox.queue_reply(session, ticket, settings=settings, text=text, agent=agent)
    assert chat.queued[-1] == message.id
    async with sessions() as session:
        assert await outbox.deliver(session, message.id, settings=settings) == "sent"
        return await session.get(Message, message.id)


async def _sending_mailbox(sessions, smtp_sink) -> None:
    from tests.integration.conftest import add_mailbox

    await add_mailbox(sessions, address="support@shop.test", name="Shop", smtp_host=smtp_sink.host,
                      smtp_port=smtp_sink.port, smtp_security="none")


# -- sessions and identities ---------------------------------------------------------------------------

async def test_session_starts_then_resumes_with_its_token_and_prechat_links_the_customer(chat, sessions, settings):
    async with sessions() as session:  # Ann wrote by email before
        await ingest(session, inbound(sender="ann@example.com", name="Ann Example"), settings=settings)
    first = await chat.session(name="Ann", email="Ann@Example.com")
    assert first.status_code == 200 and first.headers["access-control-allow-origin"] == SHOP
    body = first.json()
    assert (body["verified"], body["name"], body["email"]) == (False, "Ann", "ann@example.com")
    again = await chat.session(token=body["token"])
    conversation = await _conversation(sessions, again.json()["token"], settings)
    assert conversation.public_id == tokens.visitor_conversation(settings, body["token"], channel_key="shop")
    async with sessions() as session:
        ann = await session.scalar(select(CustomerIdentity).where(CustomerIdentity.value == "ann@example.com"))
        assert conversation.customer_id == ann.customer_id and ann.verified is False
        assert await session.scalar(select(func.count()).select_from(Customer)) == 1

    async with chat.socket(body["token"]) as visitor:
        await visitor.hello()
        ack = await visitor.say("Is the teapot back in stock?")
    async with sessions() as session:
        message = await session.get(Message, ack["seq"])
        ticket = await session.get(Ticket, message.ticket_id)
        assert ticket.customer_id == ann.customer_id and ticket.channel == "chat"  # on Ann's record, with her email
        assert (await _conversation(sessions, body["token"], settings)).ticket_id == ticket.id

    fresh = await chat.session(token="not-a-token")  # an unreadable token: a new conversation, not an error
    assert fresh.status_code == 200 and fresh.json()["token"] != body["token"]


async def test_anonymous_visitor_gets_a_chat_identity_on_their_first_message(chat, sessions, settings):
    token = await chat.token()
    async with chat.socket(token) as visitor:
        await visitor.hello()
        ack = await visitor.say("Hello?")
    conversation = await _conversation(sessions, token, settings)
    async with sessions() as session:
        identity = await session.scalar(select(CustomerIdentity).where(CustomerIdentity.customer_id ==
                                                                       conversation.customer_id))
        assert (identity.kind, identity.value) == ("chat", conversation.public_id)
        assert (await session.get(Message, ack["seq"])).ticket_id == conversation.ticket_id


async def test_signed_identity_links_the_existing_customer_and_is_verified(chat, sessions, settings):
    async with sessions() as session:
        await ingest(session, inbound(sender="ann@example.com", name="Ann Example"), settings=settings)
    response = await chat.session(identity_token=_shop_jwt(chat.secret))
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is True and response.json()["email"] == "ann@example.com"
    conversation = await _conversation(sessions, response.json()["token"], settings)
    async with sessions() as session:
        owned = {(i.kind, i.value): i.verified for i in await session.scalars(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == conversation.customer_id))}
    assert owned[("email", "ann@example.com")] is True and owned[("chat_user", "shop:42")] is True
    assert conversation.verified
    # the same signed-in user resumes; the browser without the signature (signed out) starts afresh
    resumed = await chat.session(token=response.json()["token"], identity_token=_shop_jwt(chat.secret))
    assert (await _conversation(sessions, resumed.json()["token"], settings)).id == conversation.id
    anonymous = await chat.session(token=response.json()["token"])
    assert (await _conversation(sessions, anonymous.json()["token"], settings)).id != conversation.id
    other_user = await chat.session(token=response.json()["token"], identity_token=_shop_jwt(chat.secret, sub="7"))
    assert (await _conversation(sessions, other_user.json()["token"], settings)).id != conversation.id


async def test_a_numeric_sub_is_a_user_id_and_a_signed_non_email_is_left_out(chat, sessions, settings):
    response = await chat.session(identity_token=_shop_jwt(chat.secret, sub=42, email="not an email"))
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is True and response.json()["email"] is None
    async with sessions() as session:
        kinds = set((await session.execute(select(CustomerIdentity.kind, CustomerIdentity.value))).all())
    assert kinds == {("chat_user", "shop:42"),
                     ("chat", tokens.visitor_conversation(settings, response.json()["token"], channel_key="shop"))}


@pytest.mark.parametrize("case", ["expired", "wrong secret", "alg none", "no exp"])
async def test_a_bad_identity_token_is_refused(chat, sessions, case):
    token = {"expired": lambda: _shop_jwt(chat.secret, expires_in=-60),
             "wrong secret": lambda: _shop_jwt("not-the-channel-secret-at-all-0123456789"),
             "alg none": lambda: _shop_jwt(chat.secret, algorithm="none"),
             "no exp": lambda: jwt.encode({"sub": "42", "email": "ann@example.com"}, chat.secret, algorithm="HS256"),
             }[case]()
    response = await chat.session(identity_token=token)
    assert response.status_code == 401 and "identity token" in response.json()["detail"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChatConversation)) == 0
        assert await session.scalar(select(func.count()).select_from(Customer)) == 0


async def test_user_hash_verifies_the_user_id_and_a_wrong_one_is_refused(chat, sessions, settings):
    good = await chat.session(user_id="42", user_hash=tokens.user_hash(chat.secret, "42"), name="Ann")
    assert good.status_code == 200 and good.json()["verified"] is True
    bad = await chat.session(user_id="43", user_hash=tokens.user_hash(chat.secret, "42"))
    assert bad.status_code == 401 and "user_hash" in bad.json()["detail"]
    conversation = await _conversation(sessions, good.json()["token"], settings)
    async with sessions() as session:
        identity = await session.scalar(select(CustomerIdentity).where(CustomerIdentity.kind == "chat_user"))
    assert (identity.value, identity.verified, identity.customer_id) == ("shop:42", True, conversation.customer_id)


async def test_enforce_verification_refuses_an_unsigned_email(chat, sessions, settings):
    async with sessions() as session:
        await session.execute(update(ChatConversation.__table__.metadata.tables["chat_channels"])
                              .values(enforce_verification=True))
        await session.commit()
    refused = await chat.session(name="Mallory", email="ann@example.com")
    assert refused.status_code == 403 and "signed-in" in refused.json()["detail"]
    assert (await chat.session(name="Mallory")).status_code == 200  # a name is fine
    signed = await chat.session(identity_token=_shop_jwt(chat.secret))
    assert signed.status_code == 200 and signed.json()["email"] == "ann@example.com"


# -- origins and tokens -------------------------------------------------------------------------------

async def test_other_origins_are_refused_on_every_endpoint_and_the_socket(chat):
    token = await chat.token()
    async with chat.http("https://evil.example") as evil:
        for method, path in (("GET", "/config"), ("POST", "/session"), ("POST", "/transcript"),
                             ("POST", "/offline"), ("POST", "/upload"), ("GET", "/attachments/1"),
                             ("OPTIONS", "/session")):
            response = await evil.request(method, path, headers={"authorization": f"Bearer {token}"})
            assert response.status_code == 403, (method, path)
            assert "access-control-allow-origin" not in response.headers
    async with chat.http(None) as no_origin:
        assert (await no_origin.post("/session", json={})).status_code == 403  # every browser sends Origin on POST
    async with chat.http() as shop:
        preflight = await shop.options("/session", headers={"access-control-request-method": "POST"})
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == SHOP

    for origin in ("https://evil.example", None):
        with pytest.raises(ConnectionClosed) as closed:
            async with chat.socket(token, origin=origin) as visitor:
                await visitor.next("history")
        assert closed.value.rcvd.code == 4403


async def test_a_bad_or_foreign_token_closes_the_socket_with_4401(chat, settings):
    foreign = tokens.visitor_token(settings, conversation="someone-else", channel_key="other-channel")
    expired = jwt.encode({"aud": "chat", "sub": "x", "ch": "shop", "exp": datetime.now(timezone.utc) - timedelta(1)},
                         tokens._visitor_key(settings), algorithm="HS256")
    for token in ("garbage", foreign, expired, _shop_jwt(chat.secret)):
        with pytest.raises(ConnectionClosed) as closed:
            async with chat.socket(token) as visitor:
                await visitor.next("history")
        assert closed.value.rcvd.code == 4401, token


# -- messages, replies, notes, reconnects ---------------------------------------------------------------

async def test_a_message_sent_twice_is_stored_once_and_acked_with_the_stored_seq(chat, sessions, settings):
    token = await chat.token(name="Ann", email="ann@example.com")
    message_id = str(uuid.uuid4())
    async with chat.socket(token) as visitor:
        await visitor.hello()
        first = await visitor.say("My parcel is late", message_id)
    async with chat.socket(token) as visitor:  # the widget re-sends what it did not see acked
        history = await visitor.hello(after=0)
        again = await visitor.say("My parcel is late", message_id)
    assert first == again == {"type": "ack", "id": message_id, "seq": first["seq"]}
    assert [m["seq"] for m in history["messages"]] == [first["seq"]]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 1
        message = await session.get(Message, first["seq"])
        assert message.raw_ref and message.sender_kind == "chat"


async def test_agent_reply_reaches_the_socket_a_note_does_not_and_a_reconnect_gets_what_it_missed(
        chat, sessions, settings):
    token = await chat.token(name="Ann", email="ann@example.com")
    async with chat.socket(token) as visitor:
        await visitor.hello()
        ack = await visitor.say("Do you ship to Norway?")
        ticket_id = (await _conversation(sessions, token, settings)).ticket_id
        reply = await _reply(sessions, settings, chat, ticket_id, "Yes, we do!")
        frame = await visitor.reply()
        assert (frame["seq"], frame["from"], frame["text"], frame["name"]) == (reply.id, "agent", "Yes, we do!",
                                                                               "Bea Agent")
        async with sessions() as session:
            await add_note(session, await session.get(Ticket, ticket_id), agent=await _agent(sessions),
                           text="internal: check the Norway rates")
        await visitor.quiet("message", **{"from": "agent"})
    seen = frame["seq"]
    missed = [(await _reply(sessions, settings, chat, ticket_id, f"Update {n}")).id for n in range(3)]
    async with chat.socket(token) as visitor:
        history = await visitor.hello(after=seen)
    assert [m["seq"] for m in history["messages"]] == missed
    assert all("internal" not in m["text"] for m in history["messages"])
    async with chat.socket(token) as visitor:
        everything = await visitor.hello(after=0)
    assert [m["seq"] for m in everything["messages"]] == [ack["seq"], reply.id, *missed]


async def test_a_reply_whose_live_event_was_lost_still_reaches_the_connected_visitor_once(
        chat, sessions, settings, monkeypatch):
    from channels.chat import socket as chat_socket
    from helpdesk.chat import conversations

    monkeypatch.setattr(chat_socket, "CATCH_UP_SECONDS", 0.3)
    monkeypatch.setattr(chat_socket, "CATCH_UP_GRACE", 0.2)
    token = await chat.token(name="Ann")
    async with chat.socket(token) as visitor:
        await visitor.hello()
        await visitor.say("Is the kettle back in stock?")
        ticket_id = (await _conversation(sessions, token, settings)).ticket_id
        with monkeypatch.context() as lost:  # the live event never arrives (a relay that dropped it)
            lost.setattr(conversations, "publish_message", lambda public_id, frame: None)
            reply = await _reply(sessions, settings, chat, ticket_id, "Yes, since this morning.")
        frame = await visitor.reply(timeout=5)
        assert (frame["seq"], frame["text"]) == (reply.id, "Yes, since this morning.")
        live = await _reply(sessions, settings, chat, ticket_id, "Anything else?")  # arrives live as before
        assert (await visitor.reply())["seq"] == live.id
        await visitor.quiet("message", seconds=1.0, **{"from": "agent"})  # neither comes twice


async def test_typing_and_read_go_both_ways(chat, sessions, settings):
    from helpdesk import live
    from helpdesk.chat import conversations

    token = await chat.token(name="Ann")
    async with chat.socket(token) as visitor:
        await visitor.hello()
        ack = await visitor.say("Hello")
        conversation = await _conversation(sessions, token, settings)
        heard: list = []
        live.add_publisher(lambda channel, event: heard.append((channel, event)))
        try:
            await visitor.send(type="typing", state=True)
            await visitor.send(type="read", seq=ack["seq"])
            await visitor.send(type="ping")
            await visitor.next("pong")
        finally:
            live._publishers.clear()
        assert (live.chat_channel(conversation.public_id), {"type": "typing", "from": "visitor", "state": True}) in heard
        assert (live.chat_channel(conversation.public_id), {"type": "read", "from": "visitor", "seq": ack["seq"]}) in heard
        await visitor.quiet("typing", 0.3)  # the visitor's own typing is for the agents
        async with sessions() as session:
            await conversations.agent_typing(session, conversation.ticket_id, "Bea Agent", True)
            assert (await visitor.next("typing")) == {"type": "typing", "name": "Bea", "state": True}
            await conversations.agent_read(session, await session.get(Ticket, conversation.ticket_id))
            assert (await visitor.next("read")) == {"type": "read", "seq": ack["seq"]}
    assert (await _conversation(sessions, token, settings)).visitor_last_read_id == ack["seq"]


async def test_a_frame_that_cannot_be_ingested_is_quarantined_with_its_raw_bytes(chat, sessions, settings):
    from helpdesk.files import read_blob
    from helpdesk.inbound import pipeline

    token = await chat.token(name="Ann")
    original = pipeline.parser_for("chat")

    def broken(raw, *, account, raw_ref):
        raise ValueError("parser bug on purpose")

    pipeline.register_parser("chat", broken)
    try:
        async with chat.socket(token) as visitor:
            await visitor.hello()
            await visitor.send(type="message", id=str(uuid.uuid4()), text="Hello")
            error = await visitor.next("error")
    finally:
        pipeline.register_parser("chat", original)
    assert error["code"] == "bad_frame"
    async with sessions() as session:
        row = await session.scalar(select(QuarantinedMessage))
    assert (row.channel, row.account) == ("chat", "shop") and b'"text":"Hello"' in read_blob(settings.raw_dir,
                                                                                          row.raw_ref)


# -- the visitor can reach their own conversation only ----------------------------------------------------

async def test_a_visitor_token_never_reaches_another_visitors_conversation(chat, sessions, settings, smtp_sink):
    await _sending_mailbox(sessions, smtp_sink)
    ann, mallory = await chat.token(name="Ann", email="ann@example.com"), await chat.token(name="Mallory")
    async with chat.http() as http:
        uploaded = await http.post("/upload", files={"file": ("receipt.png", PNG, "image/png")},
                                   headers={"authorization": f"Bearer {ann}"})
        assert uploaded.status_code == 200, uploaded.text
        file_id = uploaded.json()["attachments"][0]["id"]
        assert (await http.get(f"/attachments/{file_id}", params={"token": ann})).content == PNG
        as_mallory = {"authorization": f"Bearer {mallory}"}
        assert (await http.get(f"/attachments/{file_id}", headers=as_mallory)).status_code == 404
        assert (await http.get(f"/attachments/{file_id}", params={"token": mallory})).status_code == 404
        assert (await http.get(f"/attachments/{file_id}")).status_code == 401
        before = len(smtp_sink.messages)
        transcript = await http.post("/transcript", json={"email": "mallory@evil.example"}, headers=as_mallory)
        assert transcript.status_code == 409  # Mallory's own conversation is empty; Ann's is out of reach
        await asyncio.sleep(0.3)
        assert len(smtp_sink.messages) == before
    async with chat.socket(mallory) as visitor:
        history = await visitor.hello(after=0)
        assert history["messages"] == []
        await visitor.say("hi")
        await visitor.send(type="read", seq=uploaded.json()["seq"] + 100)
        await visitor.quiet("message", **{"from": "agent"})
    async with chat.socket(ann) as visitor:
        mine = await visitor.hello(after=0)
    assert [m["seq"] for m in mine["messages"]] == [uploaded.json()["seq"]]
    ann_conversation = await _conversation(sessions, ann, settings)
    assert ann_conversation.visitor_last_read_id == 0  # Mallory's read marks touch her own conversation only
    # another channel's token, even for the right conversation id, is refused
    other = tokens.visitor_token(settings, conversation=ann_conversation.public_id, channel_key="other")
    async with chat.http() as http:
        assert (await http.get(f"/attachments/{file_id}", params={"token": other})).status_code == 401


# -- uploads and transcripts ---------------------------------------------------------------------------

async def test_uploads_are_limited_in_size_and_type_and_served_only_as_downloads(chat, sessions, settings):
    token = await chat.token(name="Ann")
    bearer = {"authorization": f"Bearer {token}"}
    async with chat.http() as http:
        too_big = await http.post("/upload", headers=bearer,
                                  files={"file": ("big.png", PNG + b"\0" * (10 * 1024 * 1024), "image/png")})
        assert too_big.status_code == 413 and too_big.headers["access-control-allow-origin"] == SHOP
        html = await http.post("/upload", headers=bearer, files={"file": ("x.html", b"<script>", "text/html")})
        assert html.status_code == 415
        fake_png = await http.post("/upload", headers=bearer, files={"file": ("x.png", b"<svg onload=1>", "image/png")})
        assert fake_png.status_code == 415
        ok = await http.post("/upload", headers=bearer, data={"text": "the receipt"},
                             files={"file": ("receipt.png", PNG, "image/png")})
        assert ok.status_code == 200, ok.text
        frame = ok.json()
        assert frame["type"] == "message" and frame["text"] == "the receipt"
        assert frame["attachments"][0] | {"id": 0} == {"id": 0, "filename": "receipt.png", "size": len(PNG),
                                                       "content_type": "image/png"}
        download = await http.get(f"/attachments/{frame['attachments'][0]['id']}", headers=bearer)
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    async with sessions() as session:
        stored = await session.get(Attachment, frame["attachments"][0]["id"])
        assert stored.sha256 and (await session.get(Message, frame["seq"])).raw_ref


async def test_transcript_goes_to_the_visitors_email(chat, sessions, settings, smtp_sink):
    await _sending_mailbox(sessions, smtp_sink)
    token = await chat.token(name="Ann", email="ann@example.com")
    async with chat.socket(token) as visitor:
        await visitor.hello()
        await visitor.say("Where is order #1001?")
    async with chat.http() as http:
        response = await http.post("/transcript", json={}, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 202
    for _ in range(50):
        if smtp_sink.messages:
            break
        await asyncio.sleep(0.1)
    envelope = smtp_sink.messages[-1]
    assert envelope.rcpt_tos == ["ann@example.com"] and b"Where is order #1001?" in envelope.content


# -- replies by email when the visitor is away ----------------------------------------------------------

async def test_a_reply_to_a_visitor_away_for_two_minutes_goes_by_email_with_the_transcript(
        chat, sessions, settings, smtp_sink):
    await _sending_mailbox(sessions, smtp_sink)
    token = await chat.token(name="Ann", email="ann@example.com")
    async with chat.socket(token) as visitor:
        await visitor.hello()
        await visitor.say("Can I change my address?")
    conversation = await _conversation(sessions, token, settings)
    away = await _reply(sessions, settings, chat, conversation.ticket_id, "Not yet away: kept in the chat")
    assert not smtp_sink.messages
    async with sessions() as session:
        await session.execute(update(ChatConversation).where(ChatConversation.id == conversation.id)
                              .values(last_seen_at=datetime.now(timezone.utc) - timedelta(minutes=3)))
        await session.commit()
    for text in ("Yes: done, the address is changed.", "Anything else?"):
        await _reply(sessions, settings, chat, conversation.ticket_id, text)
    assert len(smtp_sink.messages) == 2 and smtp_sink.messages[0].rcpt_tos == ["ann@example.com"]
    mail = smtp_sink.messages[0].content.decode()
    assert "Yes: done, the address is changed." in mail and "Can I change my address?" in mail
    assert "Not yet away" in mail  # the transcript so far, below the reply
    async with chat.socket(token) as visitor:  # back in the chat, everything is there too
        history = await visitor.hello(after=0)
    assert [m["text"] for m in history["messages"]][-2:] == ["Yes: done, the address is changed.", "Anything else?"]
    assert away.delivery_status == "sent"


# -- limits --------------------------------------------------------------------------------------------

async def test_too_many_messages_get_an_error_frame_and_too_many_sessions_a_429(chat, sessions):
    token = await chat.token(name="Ann")
    async with chat.socket(token) as visitor:
        await visitor.hello()
        for n in range(20):
            await visitor.say(f"message {n}")
        await visitor.send(type="message", id=str(uuid.uuid4()), text="one too many")
        error = await visitor.next("error")
        assert error["code"] == "rate_limited"
        await visitor.send(type="message", id=str(uuid.uuid4()), text="x" * 5001)
        assert (await visitor.next("error"))["code"] == "too_long"
        await visitor.send(type="nonsense")
        assert (await visitor.next("error"))["code"] == "bad_frame"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 20
    statuses = [(await chat.session()).status_code for _ in range(18)]  # one session was started above
    assert statuses[:19 - 1] == [200] * 18 and (await chat.session()).status_code == 200
    refused = await chat.session()
    assert refused.status_code == 429 and refused.headers["access-control-allow-origin"] == SHOP
    assert (await chat.session(token=token)).status_code == 200  # a visitor's next page resumes theirs


# -- presence ------------------------------------------------------------------------------------------

async def test_the_channel_is_online_while_an_agent_of_its_team_has_the_console_open(chat, sessions, settings):
    from helpdesk.chat import presence as chat_presence
    from helpdesk.staff import presence

    async with chat.http() as http:
        assert (await http.get("/config")).json()["online"] is False
    agent = await _agent(sessions)
    from litestar.stores.memory import MemoryStore

    store = MemoryStore()
    async with sessions() as session:
        from helpdesk.models import ChatChannel

        channel = await session.get(ChatChannel, chat.channel_id)
        assert (await chat_presence.channel_status(session, store, channel, fresh=True)).online is False
        await presence.mark_online(store, agent.id)
        assert (await chat_presence.channel_status(session, store, channel, fresh=True)) == chat_presence.ChannelStatus(True, True)
        sunday_night = datetime(2026, 12, 6, 23, 0, tzinfo=timezone.utc)
        from helpdesk.models import BusinessCalendar

        calendar = BusinessCalendar(name="Weekdays", timezone="Europe/Berlin",
                                    weekly_hours={"mon": [["09:00", "17:00"]]}, holidays=[])
        session.add(calendar)
        await session.flush()
        channel.calendar_id = calendar.id
        await session.commit()
        assert (await chat_presence.channel_status(session, store, channel, now=sunday_night)) == \
            chat_presence.ChannelStatus(False, False)
        monday = datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc)
        assert (await chat_presence.channel_status(session, store, channel, now=monday)).online is True


async def test_a_message_left_offline_links_the_email_and_its_reply_goes_by_email(chat, sessions, settings, smtp_sink):
    await _sending_mailbox(sessions, smtp_sink)
    token = await chat.token()
    async with chat.http() as http:
        bearer = {"authorization": f"Bearer {token}"}
        no_email = await http.post("/offline", json={"text": "Hello?"}, headers=bearer)
        assert no_email.status_code == 400
        left = await http.post("/offline", json={"email": "ann@example.com", "name": "Ann", "text": "Call me back"},
                               headers=bearer)
    assert left.status_code == 202, left.text
    conversation = await _conversation(sessions, token, settings)
    assert (conversation.email, conversation.name) == ("ann@example.com", "Ann")
    await _reply(sessions, settings, chat, conversation.ticket_id, "Sorry we missed you!")
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ["ann@example.com"] and b"Call me back" in mail.content


async def test_an_open_console_queue_stream_keeps_its_agent_online_and_closing_it_ends_that():
    from litestar.channels import ChannelsPlugin
    from litestar.channels.backends.memory import MemoryChannelsBackend
    from litestar.stores.memory import MemoryStore

    from helpdesk.staff import presence
    from helpdesk.web.console import live as live_web

    store = MemoryStore()
    async with ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True) as channels:
        first = live_web.queue_stream(channels, 7, store)
        second = live_web.queue_stream(channels, 7, store)  # the same agent in another tab
        for stream in (first, second):
            assert (await stream.__anext__()).comment == "connected"
            await asyncio.wait_for(stream.__anext__(), 3)  # subscribed: marked online at once
        assert await presence.is_online(store, 7)
        assert 0 < await store.expires_in("agent:7") <= presence.TTL_SECONDS
        await first.aclose()
        assert await presence.is_online(store, 7)  # the other tab is still open
        await second.aclose()
        assert not await presence.is_online(store, 7)


async def test_a_connected_visitor_is_told_when_an_agent_comes_online(chat, sessions, monkeypatch):
    from channels.chat import socket as chat_socket
    from tests.support.installation import EventStream, signed_in

    monkeypatch.setattr(chat_socket, "PRESENCE_SECONDS", 0.3)
    await _agent(sessions)
    token = await chat.token(name="Ann")
    async with chat.socket(token) as visitor:
        await visitor.hello()
        assert (await visitor.next("presence")) == {"type": "presence", "online": False, "open_now": True}
        bea = await asyncio.to_thread(signed_in, chat.url, "bea@shop.test")
        queue = await asyncio.to_thread(EventStream, bea, "/console/live/queues")
        try:
            assert (await visitor.next("presence", timeout=10))["online"] is True
        finally:  # offline again once the server notices, at the stream's next keep-alive (a unit test above)
            await asyncio.to_thread(queue.close)


async def test_a_visitor_back_after_a_long_time_gets_replies_in_the_chat_at_once(chat, sessions, settings, smtp_sink):
    await _sending_mailbox(sessions, smtp_sink)
    token = await chat.token(name="Ann", email="ann@example.com")
    async with chat.socket(token) as visitor:
        await visitor.hello()
        await visitor.say("Hello")
    conversation = await _conversation(sessions, token, settings)
    async with sessions() as session:
        await session.execute(update(ChatConversation).where(ChatConversation.id == conversation.id)
                              .values(last_seen_at=datetime.now(timezone.utc) - timedelta(hours=5)))
        await session.commit()
    async with chat.socket(token) as visitor:  # back: connected is seen at once, not at the next 30 s round
        await visitor.hello()
        await _reply(sessions, settings, chat, conversation.ticket_id, "Welcome back")
        assert (await visitor.reply())["text"] == "Welcome back"
    assert not smtp_sink.messages
