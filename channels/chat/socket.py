"""The widget's socket, `GET /chat/{key}/socket?token=TOKEN` (docs/chat.md "The socket").

The Origin and the token are checked before anything is read: a refused socket is accepted only to
be closed with 4403 (origin, unknown channel) or 4401 (token), codes the widget can act on. An
accepted one subscribes to `chat:{public_id}` and nothing else, so it can only ever carry its own
conversation; everything it sends comes from there, published by any web process or the worker.
Each web process keeps its sockets in `_connected`: every PRESENCE_SECONDS it tells them when
their channel's presence changed, and every TOUCH_SECONDS it marks their visitors as still here
(one UPDATE for all of them), which is how the chat sender knows a visitor has been away. Every
CATCH_UP_SECONDS it compares the replies the outbox marked sent with what each socket carried, and
sends a socket the ones it missed: a live event can be lost between processes (the local relay
drops events for a process that is 0.1 s behind; a web process still subscribing), and a reply
marked sent must reach a visitor who is here without waiting for a reconnect. A visitor's
coming and going is also marked in the "presence" store and published as `{"type": "visitor", "online"}`
on their conversation's channel, for the agents' consoles (never forwarded to the visitor).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import datetime, timedelta

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from channels.chat import receive
from channels.chat.limits import allowed
from helpdesk import live
from helpdesk.chat import channels as chat_channels
from helpdesk.chat import conversations
from helpdesk.chat import presence as chat_presence
from helpdesk.chat.tokens import TokenInvalid
from helpdesk.models import ChatChannel, ChatConversation, utcnow
from helpdesk.staff import presence

log = logging.getLogger(__name__)

PRESENCE_SECONDS = 15
CATCH_UP_SECONDS = 5
CATCH_UP_GRACE = 2.0  # a reply younger than this may still be on its live way: not caught up yet
TOUCH_SECONDS = 30  # well inside conversations.AWAY (2 min)
FRAMES_PER_10_SECONDS = 60  # any frame, typing included; messages have their own, shared limit
MAX_FRAME_CHARS = 12_000  # a 5,000-character message in JSON, with room for escapes


class Connection:
    """One open socket: its conversation, and a lock so that replies, live events and presence
    never interleave their writes."""

    def __init__(self, socket: WebSocket, channel: ChatChannel, conversation: ChatConversation) -> None:
        self.socket = socket
        self.channel = channel
        self.conversation = conversation
        self.public_id = conversation.public_id
        self.presence: dict | None = None
        self.carried: set[int] = set()  # the agents' replies (seq) this socket sent, live or by catch-up
        self.hello_at: datetime | None = None  # replies sent before it came in the history
        self._lock = asyncio.Lock()
        self._window: list[float] = []

    async def send(self, frame: dict) -> None:
        async with self._lock:
            await self.socket.send_json(frame)

    async def error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message})

    def within_frame_limit(self) -> bool:
        now = time.monotonic()
        self._window = [t for t in self._window if now - t < 10]
        self._window.append(now)
        return len(self._window) <= FRAMES_PER_10_SECONDS


_connected: dict[int, set[Connection]] = {}  # channel id -> this process's sockets
_housekeeping: list[asyncio.Task] = []


@websocket("/socket", include_in_schema=False)
async def chat_socket(socket: WebSocket, key: str) -> None:
    sessions = socket.app.state.sessions
    settings = socket.app.state.settings
    refusal, channel, conversation = 4403, None, None
    async with sessions() as session:
        channel = await chat_channels.channel_by_key(session, key)
        if channel is not None and chat_channels.origin_allowed(channel, socket.headers.get("origin")):
            try:
                conversation = await conversations.conversation_for_token(session, settings, channel,
                                                                          socket.query_params.get("token"))
            except TokenInvalid:
                refusal = 4401
            else:  # here now: a reply from this moment comes to the socket, not by email
                await conversations.touch(session, [conversation.public_id])
    await socket.accept()
    if conversation is None:
        await socket.close(code=refusal, reason="origin not allowed" if refusal == 4403 else "token not valid")
        return
    connection = Connection(socket, channel, conversation)
    _start_housekeeping(socket)
    _connected.setdefault(channel.id, set()).add(connection)
    channels_plugin = socket.app.state.channels
    try:
        with contextlib.suppress(Exception):  # the agents' view of the visitor never stops the chat
            await _visitor_connected(socket.app, connection.public_id, True)
        async with channels_plugin.start_subscription([live.chat_channel(connection.public_id)]) as subscriber:
            forward = asyncio.create_task(_forward(connection, subscriber, sessions))
            try:
                await _read(connection, sessions, settings)
            finally:
                forward.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await forward
    finally:
        _connected.get(channel.id, set()).discard(connection)
        if not any(c.public_id == connection.public_id for c in _connected.get(channel.id, ())):  # other tabs
            with contextlib.suppress(Exception):
                await _visitor_connected(socket.app, connection.public_id, False)
        with contextlib.suppress(Exception):  # away from now on
            async with sessions() as session:
                await conversations.touch(session, [connection.public_id])


async def _read(connection: Connection, sessions, settings) -> None:
    while True:
        try:
            text = await connection.socket.receive_text()
        except WebSocketDisconnect:
            return
        if not connection.within_frame_limit():
            await connection.error("rate_limited", "too many frames; slow down")
            continue
        try:
            frame = json.loads(text) if len(text) <= MAX_FRAME_CHARS else None
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await connection.error("bad_frame", "a frame is a JSON object with a type")
            continue
        handler = _HANDLERS.get(frame["type"])
        if handler is None:
            await connection.error("bad_frame", f"unknown frame type {frame['type'][:40]!r}")
            continue
        await handler(connection, frame, sessions, settings)


async def _hello(connection: Connection, frame: dict, sessions, settings) -> None:
    after = frame.get("after", 0)
    after = after if isinstance(after, int) and after >= 0 else 0
    connection.hello_at = utcnow()
    async with sessions() as session:
        conversation = await session.get(ChatConversation, connection.conversation.id)
        messages = await conversations.history(session, connection.public_id, after)
        status = await chat_presence.channel_status(session, connection.socket.app.stores.get("presence"),
                                               connection.channel)
    connection.carried.update(m["seq"] for m in messages if m.get("from") == "agent")
    await connection.send({"type": "history", "messages": messages, "agent_read": conversation.agent_last_read_id})
    connection.presence = status.frame()
    await connection.send(connection.presence)


async def _message(connection: Connection, frame: dict, sessions, settings) -> None:
    local_id = receive.message_id(frame.get("id"))
    text = frame.get("text")
    if local_id is None or not isinstance(text, str) or not text.strip():
        await connection.error("bad_frame", "a message frame has a UUID id and a text")
        return
    if len(text) > receive.MAX_TEXT:
        await connection.error("too_long", f"a message has at most {receive.MAX_TEXT} characters")
        return
    if not await allowed(connection.socket.app.stores.get("throttle"), "message", connection.public_id):
        await connection.error("rate_limited", "too many messages; wait a few seconds")
        return
    receipt = await receive.receive_frame(sessions, settings, connection.channel, connection.conversation,
                                          {"type": "message", "id": local_id, "text": text})
    if receipt.status == "quarantined":
        await connection.error("bad_frame", "the message could not be stored; it is kept for the team to look at")
        return
    await connection.send({"type": "ack", "id": local_id, "seq": receipt.seq})


async def _typing(connection: Connection, frame: dict, sessions, settings) -> None:
    live.publish(live.chat_channel(connection.public_id),
                 {"type": "typing", "from": "visitor", "state": frame.get("state") is True})


async def _read_up_to(connection: Connection, frame: dict, sessions, settings) -> None:
    seq = frame.get("seq")
    if not isinstance(seq, int) or seq <= 0:
        await connection.error("bad_frame", "a read frame has a seq")
        return
    async with sessions() as session:
        conversation = await session.get(ChatConversation, connection.conversation.id)
        marked = await conversations.mark_visitor_read(session, conversation, seq)
    if marked is not None:
        live.publish(live.chat_channel(connection.public_id), {"type": "read", "from": "visitor", "seq": marked})


async def _ping(connection: Connection, frame: dict, sessions, settings) -> None:
    await connection.send({"type": "pong"})


_HANDLERS = {"hello": _hello, "message": _message, "typing": _typing, "read": _read_up_to, "ping": _ping}


async def _forward(connection: Connection, subscriber, sessions) -> None:
    """The conversation's live events to the visitor: messages (a long one read from the database),
    the agents' typing and read marks (the visitor's own are for the agents)."""
    async for raw in subscriber.iter_events():
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        kind = event.get("type")
        if kind == "message" and event.get("seq") in connection.carried:
            continue  # the catch-up sent it already (its live event was late)
        if kind in ("typing", "read"):
            if event.pop("from", None) != "agent":
                continue
        elif kind == "message":
            if event.get("ref"):
                async with sessions() as session:
                    stored = await conversations.stored_frame(session, connection.public_id, event["seq"])
                if stored is None:
                    continue
                event = {"type": "message", **stored}
        else:
            continue
        try:
            await connection.send(event)
        except Exception:  # noqa: BLE001 - the socket went away; the reader ends the connection
            return
        if kind == "message" and event.get("from") == "agent" and isinstance(event.get("seq"), int):
            connection.carried.add(event["seq"])


async def _visitor_connected(app, public_id: str, online: bool) -> None:
    """The agents' console shows whether the visitor is here: marked in the presence store (read when
    a ticket opens) and published to the conversation's channel (open tickets' live streams)."""
    await presence.mark_visitor(app.stores.get("presence"), public_id, online)
    live.publish(live.chat_channel(public_id), {"type": "visitor", "online": online})


async def _catch_up(session, since) -> "datetime":
    """Send each socket the replies marked sent since `since` that it did not carry; returns the
    time caught up to. A socket that connected after a reply had it in its history."""
    until = utcnow() - timedelta(seconds=CATCH_UP_GRACE)
    sent = await conversations.replies_sent_between(session, since - timedelta(seconds=1), until)
    if not sent:
        return until
    by_conversation: dict[str, list[Connection]] = {}
    for connections in _connected.values():
        for connection in connections:
            by_conversation.setdefault(connection.public_id, []).append(connection)
    for public_id, seq, at in sorted(sent, key=lambda row: row[1]):
        missed = [c for c in by_conversation.get(public_id, ())
                  if c.hello_at is not None and at > c.hello_at and seq not in c.carried]
        if not missed:
            continue
        frame = await conversations.stored_frame(session, public_id, seq)
        if frame is None:
            continue
        for connection in missed:
            with contextlib.suppress(Exception):
                await connection.send({"type": "message", **frame})
                connection.carried.add(seq)
        log.info("chat reply %s caught up on %d socket(s): its live event did not arrive", seq, len(missed))
    return until


def _start_housekeeping(socket: WebSocket) -> None:
    running = _housekeeping[0] if _housekeeping else None
    if running is not None and not running.done() and running.get_loop() is asyncio.get_running_loop():
        return  # (another loop's task is a stopped app's: tests run several apps in one process)
    _housekeeping[:] = [asyncio.get_running_loop().create_task(_keep_house(socket.app))]


async def _keep_house(app) -> None:
    """Presence changes to the sockets; the visitors' `last_seen_at` kept fresh; missed replies caught up."""
    last_touch = last_presence = time.monotonic()
    caught_up_to = utcnow() - timedelta(seconds=CATCH_UP_GRACE)
    while any(_connected.values()):
        await asyncio.sleep(min(CATCH_UP_SECONDS, PRESENCE_SECONDS))
        try:
            async with app.state.sessions() as session:
                caught_up_to = await _catch_up(session, caught_up_to)
                if time.monotonic() - last_presence < PRESENCE_SECONDS:
                    continue
                last_presence = time.monotonic()
                for channel_id, connections in list(_connected.items()):
                    if not connections:
                        continue
                    channel = next(iter(connections)).channel
                    status = (await chat_presence.channel_status(session, app.stores.get("presence"), channel,
                                                            fresh=True)).frame()
                    for connection in list(connections):
                        with contextlib.suppress(Exception):  # still here, for the agents' consoles
                            await presence.mark_visitor(app.stores.get("presence"), connection.public_id, True)
                        if connection.presence is not None and connection.presence != status:
                            connection.presence = status
                            with contextlib.suppress(Exception):
                                await connection.send(status)
                if time.monotonic() - last_touch >= TOUCH_SECONDS:
                    last_touch = time.monotonic()
                    await conversations.touch(session, [c.public_id for cs in _connected.values() for c in cs])
        except Exception:  # noqa: BLE001 - tried again next round
            log.exception("chat sockets' housekeeping failed")
