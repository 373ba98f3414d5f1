"""Live updates: domain events become the SSE events the console listens for; presence."""
from __future__ import annotations

import asyncio

import pytest
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend

from helpdesk import live
from helpdesk.inbound.ingest import ingest
from helpdesk.web.console import live as live_web
from tests.factories import inbound
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401


@pytest.fixture
async def channels():
    plugin = ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)
    def publish(name, event):
        plugin.publish(event, name)

    async with plugin:
        live.add_publisher(publish)
        yield plugin
        live.remove_publisher(publish)


async def next_event(stream, *, skip_comments=True, timeout=3.0):
    while True:
        message = await asyncio.wait_for(stream.__anext__(), timeout)
        if message.event is not None or not skip_comments:
            return message


def test_presence_html_escapes_names():
    html = live_web.presence_html({2: ("<b>Bea</b>", "typing", 0.0), 3: ("Carlos", "viewing", 0.0)})
    assert "&lt;b&gt;Bea&lt;/b&gt; is typing…" in html and "Carlos is viewing" in html and "<b>" not in html


async def test_new_inbound_message_reaches_the_open_ticket_and_the_queue_counts(channels, session, settings, shop):
    ticket_stream = live_web.ticket_stream(channels, shop.ticket_ids[0], agent_id=1, agent_name="Bea")
    queue_stream = live_web.queue_stream(channels, agent_id=1)
    assert (await ticket_stream.__anext__()).comment == "connected"
    assert (await queue_stream.__anext__()).comment == "connected"
    pending_ticket = asyncio.ensure_future(next_event(ticket_stream))
    pending_queue = asyncio.ensure_future(next_event(queue_stream))
    await asyncio.sleep(0.05)  # both subscriptions are live before the message arrives
    number = shop.ticket_ids[0]
    await ingest(session, inbound(sender="ann@example.com", subject="Re: Where is my order?", token=number,
                                  text="Any news?"), settings=settings)
    assert (await pending_ticket).event == "timeline"
    assert (await pending_queue).event == "counts"
    await ticket_stream.aclose()
    await queue_stream.aclose()


async def test_presence_of_another_agent_is_shown_and_expires_on_leave(channels, shop):
    mine = live_web.ticket_stream(channels, shop.ticket_ids[0], agent_id=1, agent_name="Bea")
    await mine.__anext__()
    pending = asyncio.ensure_future(next_event(mine))
    await asyncio.sleep(0.05)
    live.publish(live.ticket_channel(shop.ticket_ids[0]), {"event": "presence", "agent_id": 2, "name": "Carlos",
                                                           "state": "typing"})
    message = await pending
    assert message.event == "presence" and "Carlos is typing…" in message.data
    pending = asyncio.ensure_future(next_event(mine))
    live.publish(live.ticket_channel(shop.ticket_ids[0]), {"event": "presence", "agent_id": 1, "name": "Bea",
                                                           "state": "viewing"})  # my own: not shown
    live.publish(live.ticket_channel(shop.ticket_ids[0]), {"event": "presence", "agent_id": 2, "name": "Carlos",
                                                           "state": "left"})
    message = await pending
    assert message.event == "presence" and "Carlos" not in message.data and "Bea" not in message.data
    await mine.aclose()


async def test_presence_heartbeat_is_published_to_the_ticket_channel(client, shop):
    seen = []

    def record(name, event):
        seen.append((name, event))

    live.add_publisher(record)
    try:
        token = await sign_in(client, "agent")
        response = await client.post(f"/console/tickets/{shop.ticket_ids[0]}/presence", headers=htmx(None, token),
                                     data={"state": "typing"})
        assert response.status_code == 204
    finally:
        live.remove_publisher(record)
    assert (f"ticket:{shop.ticket_ids[0]}", {"event": "presence", "agent_id": shop.agents["agent"],
                                             "name": "Bea Agent", "state": "typing"}) in seen
