"""Live updates over server-sent events (the htmx sse extension) and presence heartbeats.

Domain code publishes small JSON events (`helpdesk.live`); these streams turn them into the
few SSE event names the templates listen for:
- `counts`: queue counts changed (the queue nav re-fetches itself),
- `timeline`: a message was added or its delivery status changed (the conversation re-fetches),
- `properties`: status, assignee, tags ... changed (properties and SLA clocks re-fetch; the
  conversation too, for the change's line in the ticket's history),
- `presence`: who else has this ticket open, as ready HTML,
- `chat-visitor`: on a chat ticket, whether the visitor is connected and typing, as ready HTML (from
  the conversation's channel `chat:{public_id}`; their reads re-fetch the conversation for "Seen"),
- `notifications`: the agent got a notification or read one (the header's bell re-fetches),
- `board`: on the SLA board's own stream, tickets changed or the sweep stamped a clock (it re-fetches).
Bursts are coalesced so a bulk action costs one re-fetch, not fifty.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from html import escape
from typing import Annotated

from litestar import Controller, get, post
from litestar.channels import ChannelsPlugin
from litestar.stores.base import Store
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import live
from helpdesk.chat import conversations as chat
from helpdesk.staff import presence
from helpdesk.models import Agent
from helpdesk.web.console.pages import FORM

HEARTBEAT_SECONDS = 15  # a comment line keeps proxies from closing an idle stream
PRESENCE_TTL = 30  # an agent who stopped sending heartbeats is gone after this long
COALESCE_SECONDS = 0.25
PRESENCE_STATES = ("viewing", "typing", "left")
# a property change re-fetches the properties and the conversation, whose history shows the change
TICKET_EVENTS = {
    "message.created": ("timeline",), "message.delivery": ("timeline",),
    "ticket.updated": ("properties", "timeline"), "ticket.created": ("properties",),
}


@dataclass
class Heartbeat:
    state: str = "viewing"  # one of PRESENCE_STATES; anything else counts as viewing


def presence_html(others: dict[int, tuple[str, str, float]]) -> str:
    """"Bea is viewing", "Carlos is typing…": one line per other agent, newest state."""
    if not others:
        return ""
    parts = []
    for name, state, _ in sorted(others.values()):
        verb = "is typing…" if state == "typing" else "is viewing"
        parts.append(f'<span class="presence-agent presence-{escape(state)}">{escape(name)} {verb}</span>')
    return " ".join(parts)


@dataclass(frozen=True)
class ChatWatch:
    """A chat ticket's visitor, as its open console sees them: their conversation's live channel
    carries their typing, reads and comings and goings (channels/chat/socket.py)."""

    public_id: str
    name: str
    online: bool


TYPING_SHOWN_SECONDS = 10  # a visitor's "typing" not renewed (the socket dropped mid-word) fades


def chat_visitor_html(name: str, online: bool, typing: bool) -> str:
    """"Online" or "Away", then "Ann is typing…" while the visitor types."""
    state = "online" if online else "away"
    html = f'<span class="chat-presence chat-{state}" data-state="{state}">{"Online" if online else "Away"}</span>'
    if typing:
        html += f' <span class="chat-typing">{escape(name)} is typing…</span>'
    return html


async def _events(channels: ChannelsPlugin, names: list[str],
                  first_quiet: float | None = None) -> AsyncGenerator[list[dict], None]:
    """Batches of decoded events from `names`; an empty batch every HEARTBEAT_SECONDS of quiet (the
    first after `first_quiet` seconds, when given)."""
    async with channels.start_subscription(names) as subscriber:
        queue: asyncio.Queue[dict] = asyncio.Queue()

        async def pump() -> None:
            async for raw in subscriber.iter_events():
                try:
                    queue.put_nowait(json.loads(raw))
                except ValueError:
                    continue

        task = asyncio.create_task(pump())
        quiet = HEARTBEAT_SECONDS if first_quiet is None else first_quiet
        try:
            while True:
                try:
                    first = await asyncio.wait_for(queue.get(), timeout=quiet)
                except asyncio.TimeoutError:
                    quiet = HEARTBEAT_SECONDS
                    yield []
                    continue
                batch = [first]
                await asyncio.sleep(COALESCE_SECONDS)
                while not queue.empty():
                    batch.append(queue.get_nowait())
                yield batch
        finally:
            task.cancel()


def queue_stream(channels: ChannelsPlugin, agent_id: int,
                 presence_store: Store | None = None) -> AsyncGenerator[ServerSentEventMessage, None]:
    """The queue's events; while one is open the agent is online for chat (helpdesk/staff/presence.py)."""
    async def stream() -> AsyncGenerator[ServerSentEventMessage, None]:
        yield ServerSentEventMessage(comment="connected")
        _open_queues[agent_id] = _open_queues.get(agent_id, 0) + 1
        refreshed = 0.0
        try:
            async for batch in _events(channels, [live.queue_channel("all"), live.agent_channel(agent_id)],
                                       first_quiet=0):
                if presence_store is not None and time.monotonic() - refreshed >= presence.REFRESH_SECONDS:
                    refreshed = time.monotonic()
                    await presence.mark_online(presence_store, agent_id)
                kinds = {str(event.get("event", "")) for event in batch}
                if any(not kind.startswith("notification.") for kind in kinds):
                    yield ServerSentEventMessage(event="counts", data="1")
                if any(kind.startswith("notification.") for kind in kinds):
                    yield ServerSentEventMessage(event="notifications", data="1")
                if not batch:
                    yield ServerSentEventMessage(comment="keep-alive")
        finally:
            _open_queues[agent_id] -= 1
            if not _open_queues[agent_id]:
                del _open_queues[agent_id]
                if presence_store is not None:  # the last console of this process; others refresh their own
                    await presence.mark_offline(presence_store, agent_id)

    return stream()


_open_queues: dict[int, int] = {}  # agent id -> queue streams open in this process


BOARD_MIN_SECONDS = 2.0  # the SLA board is a heavier page: at most one re-fetch this often


def sla_board_stream(channels: ChannelsPlugin) -> AsyncGenerator[ServerSentEventMessage, None]:
    """`board` when tickets change (the queue channel) or the sweep stamps a clock (`live.sla_channel`),
    at most once per BOARD_MIN_SECONDS however many events a burst brings."""
    async def stream() -> AsyncGenerator[ServerSentEventMessage, None]:
        yield ServerSentEventMessage(comment="connected")
        last = 0.0
        async for batch in _events(channels, [live.queue_channel("all"), live.sla_channel()]):
            if not batch:
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            wait = BOARD_MIN_SECONDS - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
            last = time.monotonic()
            yield ServerSentEventMessage(event="board", data="1")

    return stream()


def ticket_stream(channels: ChannelsPlugin, ticket_id: int, agent_id: int, agent_name: str = "",
                  chat_watch: ChatWatch | None = None) -> AsyncGenerator[ServerSentEventMessage, None]:
    async def stream() -> AsyncGenerator[ServerSentEventMessage, None]:
        others: dict[int, tuple[str, str, float]] = {}
        shown = ""
        subscribed = [live.ticket_channel(ticket_id)]
        visitor = {"online": False, "typing": 0.0}  # typing: since when (monotonic), 0 when not
        shown_visitor = ""
        if chat_watch is not None:
            subscribed.append(live.chat_channel(chat_watch.public_id))
            visitor["online"] = chat_watch.online
            shown_visitor = chat_visitor_html(chat_watch.name, chat_watch.online, False)
            yield ServerSentEventMessage(event="chat-visitor", data=shown_visitor)
        yield ServerSentEventMessage(comment="connected")
        async for batch in _events(channels, subscribed):
            names: list[str] = []
            for event in batch:
                kind = event.get("event")
                if chat_watch is not None and kind is None and "type" in event:  # the conversation's channel
                    if _visitor_event(event, visitor):
                        names += [name for name in ("timeline",) if name not in names]
                    continue
                if kind == "presence":
                    other = event.get("agent_id")
                    if isinstance(other, int) and other != agent_id:
                        if event.get("state") == "left":
                            others.pop(other, None)
                        else:
                            if other not in others:
                                # a newcomer learns about us now, not at our next heartbeat
                                live.publish(live.ticket_channel(ticket_id), {
                                    "event": "presence", "agent_id": agent_id, "name": agent_name,
                                    "state": "viewing"})
                            others[other] = (str(event.get("name", "")), str(event.get("state", "viewing")),
                                             time.monotonic())
                elif kind in TICKET_EVENTS:
                    names += [name for name in TICKET_EVENTS[kind] if name not in names]
            now = time.monotonic()
            for other, (_, _, seen) in list(others.items()):
                if now - seen > PRESENCE_TTL:
                    del others[other]
            for name in names:
                yield ServerSentEventMessage(event=name, data="1")
            html = presence_html(others)
            changed = html != shown
            if changed:
                shown = html
                yield ServerSentEventMessage(event="presence", data=html or "<span></span>")
            if chat_watch is not None:
                if visitor["typing"] and now - visitor["typing"] > TYPING_SHOWN_SECONDS:
                    visitor["typing"] = 0.0
                html = chat_visitor_html(chat_watch.name, bool(visitor["online"]), bool(visitor["typing"]))
                if html != shown_visitor:
                    shown_visitor, changed = html, True
                    yield ServerSentEventMessage(event="chat-visitor", data=html)
            if not changed and not batch:
                yield ServerSentEventMessage(comment="keep-alive")

    return stream()


def _visitor_event(event: dict, visitor: dict) -> bool:
    """Apply a chat event to what the console shows of the visitor; True when the visitor has read
    further (the conversation re-fetches to move "Seen")."""
    kind = event.get("type")
    if kind == "visitor":
        visitor["online"] = event.get("online") is True
        if not visitor["online"]:
            visitor["typing"] = 0.0
    elif kind == "typing" and event.get("from") == "visitor":
        visitor["online"] = True
        visitor["typing"] = time.monotonic() if event.get("state") is True else 0.0
    elif kind == "message" and event.get("from") != "agent":
        visitor["typing"] = 0.0  # sent: no longer typing (an agent's reply carries from=agent)
    elif kind == "read" and event.get("from") == "visitor":
        return True
    return False


class LiveController(Controller):
    path = "/"

    @get("/live/queues", name="live_queues")
    async def queues(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> ServerSentEvent:
        # a stream lives for hours: give the pooled connection back now, not when it ends
        await db.close()
        channels: ChannelsPlugin = request.app.state["channels"]
        return ServerSentEvent(queue_stream(channels, agent.id, request.app.stores.get("presence")),
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @get("/live/tickets/{ticket_id:int}", name="live_ticket")
    async def ticket(self, request: HTMXRequest, db: AsyncSession, agent: Agent, ticket_id: int) -> ServerSentEvent:
        watch = None
        conversation = await chat.conversation_of_ticket_id(db, ticket_id)
        if conversation is not None:  # a chat: the visitor's presence, typing and reads too
            connected = await presence.visitor_connected(request.app.stores.get("presence"), conversation.public_id)
            watch = ChatWatch(conversation.public_id, conversation.name or "The visitor", connected)
        await db.close()
        channels: ChannelsPlugin = request.app.state["channels"]
        return ServerSentEvent(ticket_stream(channels, ticket_id, agent.id, agent.name, watch),
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @post("/tickets/{ticket_id:int}/presence", name="ticket_presence", status_code=204)
    async def presence(self, db: AsyncSession, agent: Agent, ticket_id: int,
                       data: Annotated[Heartbeat, FORM]) -> None:
        """Heartbeat from an open ticket: "viewing", "typing" or "left"; others' streams show it, and
        a chat's visitor sees the agent typing."""
        state = data.state if data.state in PRESENCE_STATES else "viewing"
        live.publish(live.ticket_channel(ticket_id),
                     {"event": "presence", "agent_id": agent.id, "name": agent.name, "state": state})
        await chat.agent_typing(db, ticket_id, agent.name, state == "typing")
