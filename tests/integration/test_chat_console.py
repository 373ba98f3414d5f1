"""The agents' side of a chat ticket, against a real server and a real visitor socket
(tests/support/chat.py): the console's typing and reading reach the visitor's conversation channel
(chat tickets only); the ticket's live stream shows the visitor connected, typing, away, and
re-fetches the conversation when they read, which then says "Seen" under the reply they read."""
from __future__ import annotations

import asyncio
import re

import httpx
from sqlalchemy import select

from helpdesk import live
from helpdesk.chat import tokens
from helpdesk.models import ChatConversation, Ticket
from helpdesk.tickets import outbox
from tests.support.chat import chat  # noqa: F401 - the fixture
from tests.support.console import PASSWORD, shop  # noqa: F401 - agents in the same database


async def _console(url: str, role: str = "agent") -> httpx.AsyncClient:
    """A console signed in with the real form on the chat server (the same app serves both)."""
    client = httpx.AsyncClient(base_url=url, timeout=10, headers={"origin": url})
    page = await client.get("/console/login")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    signed = await client.post("/console/login", data={"email": f"{role}@shop.test", "password": PASSWORD,
                                                       "_csrf_token": csrf, "next": "/console"})
    assert signed.status_code in (302, 303), signed.text
    client.headers["x-csrftoken"] = client.cookies.get("helpdesk_csrf")
    return client


async def _conversation(sessions, settings, token: str) -> ChatConversation:
    public_id = tokens.visitor_conversation(settings, token, channel_key="shop")
    async with sessions() as session:
        return await session.scalar(select(ChatConversation).where(ChatConversation.public_id == public_id))


class Stream:
    """A ticket's SSE stream read as the browser reads it: (event, data) pairs."""

    def __init__(self, client: httpx.AsyncClient, ticket_id: int) -> None:
        self.events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._task = asyncio.create_task(self._read(client, ticket_id))

    async def _read(self, client, ticket_id) -> None:
        async with client.stream("GET", f"/console/live/tickets/{ticket_id}", timeout=None) as response:
            event = None
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event:
                    await self.events.put((event, line.split(":", 1)[1].strip()))
                    event = None

    async def next(self, event: str, timeout: float = 5, containing: str = "") -> str:
        async def wait():
            while True:
                name, data = await self.events.get()
                if name == event and containing in data:
                    return data
        return await asyncio.wait_for(wait(), timeout)

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass


async def test_agent_typing_and_reading_reach_the_visitor_of_a_chat_ticket(chat, shop, sessions, settings):
    token = await chat.token(name="Ann")
    console = await _console(chat.url)
    try:
        async with chat.socket(token) as visitor:
            await visitor.hello()
            ack = await visitor.say("Is the green tea in stock?")
            ticket_id = (await _conversation(sessions, settings, token)).ticket_id

            opened = await console.get(f"/console/tickets/{ticket_id}")
            assert opened.status_code == 200 and 'id="chat-visitor"' in opened.text
            assert (await visitor.next("read")) == {"type": "read", "seq": ack["seq"]}
            assert (await _conversation(sessions, settings, token)).agent_last_read_id == ack["seq"]

            assert (await console.post(f"/console/tickets/{ticket_id}/presence", data={"state": "typing"})).status_code == 204
            assert (await visitor.next("typing")) == {"type": "typing", "name": "Bea", "state": True}
            await console.post(f"/console/tickets/{ticket_id}/presence", data={"state": "viewing"})
            assert (await visitor.next("typing")) == {"type": "typing", "name": "Bea", "state": False}

            # read once: opening it again publishes nothing new
            await console.get(f"/console/tickets/{ticket_id}")
            await visitor.quiet("read", 0.5)
    finally:
        await console.aclose()


async def test_an_email_tickets_typing_and_viewing_publish_nothing_to_any_chat(chat, shop):
    heard: list = []
    publisher = lambda channel, event: heard.append(channel)  # noqa: E731
    live.add_publisher(publisher)
    console = await _console(chat.url)
    try:
        assert (await console.get(f"/console/tickets/{shop.ticket_ids[0]}")).status_code == 200
        assert 'id="chat-visitor"' not in (await console.get(f"/console/tickets/{shop.ticket_ids[0]}")).text
        await console.post(f"/console/tickets/{shop.ticket_ids[0]}/presence", data={"state": "typing"})
        await asyncio.sleep(0.2)
    finally:
        live.remove_publisher(publisher)
        await console.aclose()
    assert live.ticket_channel(shop.ticket_ids[0]) in heard  # the other agents' presence, as always
    assert not [name for name in heard if name.startswith("chat:")]


async def test_the_ticket_stream_shows_the_visitor_online_typing_seen_and_away(chat, shop, sessions, settings):
    token = await chat.token(name="Ann <b>")
    console = await _console(chat.url)
    stream = None
    try:
        async with chat.socket(token) as visitor:
            await visitor.hello()
            ack = await visitor.say("Hello?")
            ticket_id = (await _conversation(sessions, settings, token)).ticket_id
            stream = Stream(console, ticket_id)
            assert 'data-state="online"' in await stream.next("chat-visitor")  # the state when the ticket opens

            await visitor.send(type="typing", state=True)
            typing = await stream.next("chat-visitor", containing="typing")
            assert "Ann &lt;b&gt; is typing…" in typing and "<b>" not in typing
            await visitor.send(type="typing", state=False)
            assert "typing" not in await stream.next("chat-visitor")

            agent = await _agent_row(sessions)
            async with sessions() as session:
                reply = await outbox.queue_reply(session, await session.get(Ticket, ticket_id), settings=settings,
                                                 text="Yes, it is.", agent=agent)
            async with sessions() as session:
                assert await outbox.deliver(session, reply.id, settings=settings) == "sent"
            await visitor.reply()
            page = await console.get(f"/console/tickets/{ticket_id}/timeline")
            assert 'id="chat-seen"' not in page.text  # delivered, not read yet

            await visitor.send(type="read", seq=reply.id)
            await stream.next("timeline")  # the conversation re-fetches ...
            page = await console.get(f"/console/tickets/{ticket_id}/timeline")
            seen = re.search(r'id="message-(\d+)"(?:(?!</li>).)*id="chat-seen"', page.text, re.S)
            assert seen and int(seen.group(1)) == reply.id  # ... and says "Seen" under the reply read
            assert ack["seq"] < reply.id
        assert 'data-state="away"' in await stream.next("chat-visitor", containing="away")  # the socket closed
    finally:
        if stream is not None:
            await stream.close()
        await console.aclose()


async def _agent_row(sessions):
    from helpdesk.models import Agent

    async with sessions() as session:
        return await session.scalar(select(Agent).where(Agent.email == "agent@shop.test"))


async def test_the_customer_panel_marks_a_signed_shop_login_verified_with_its_user_id(chat, shop, sessions, settings):
    from helpdesk.chat.tokens import user_hash

    signed = await chat.token(user_id="cust-42", user_hash=user_hash(chat.secret, "cust-42"), name="Ann Shopper")
    unsigned = await chat.token(name="Otto", email="otto@example.com")
    tickets = {}
    for name, token in (("signed", signed), ("unsigned", unsigned)):
        async with chat.socket(token) as visitor:
            await visitor.hello()
            await visitor.say("Hello")
        tickets[name] = (await _conversation(sessions, settings, token)).ticket_id
    console = await _console(chat.url)
    try:
        page = (await console.get(f"/console/tickets/{tickets['signed']}")).text
        panel = page[page.index('id="customer-identities"'):]
        panel = panel[:panel.index("</ul>")]
        shop_login = re.search(r'data-identity-kind="chat_user">(.*?)</li>', panel, re.S).group(1)
        assert '<strong class="shop-user-id">cust-42</strong>' in shop_login and "✓ verified" in shop_login
        chat_identity = re.search(r'data-identity-kind="chat">(.*?)</li>', panel, re.S).group(1)
        assert "✓ verified" in chat_identity

        page = (await console.get(f"/console/tickets/{tickets['unsigned']}")).text
        panel = page[page.index('id="customer-identities"'):]
        panel = panel[:panel.index("</ul>")]
        assert 'data-identity-kind="chat_user"' not in panel
        chat_identity = re.search(r'data-identity-kind="chat">(.*?)</li>', panel, re.S).group(1)
        assert "not verified" in chat_identity and "✓ verified" not in chat_identity
    finally:
        await console.aclose()
