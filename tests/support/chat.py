"""A chat channel served by a real web server (uvicorn in a thread, the app of `create_app` with the
chat adapter mounted), and visitors that talk to it as the widget does: HTTP with an Origin, and a
real WebSocket. Test modules import the fixtures: `from tests.support.chat import chat  # noqa: F401`.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect

from channels.chat import receive
from channels.chat.endpoints import chat_router
from channels.chat.sender import ChatSender
from channels.email.smtp import SmtpSender
from helpdesk.app import create_app
from helpdesk.channel import _senders, register_sender
from helpdesk.chat import channels as chat_channels
from helpdesk.tickets import outbox
from helpdesk.web.public import PublicEndpoints
from tests.conftest import free_port

SHOP = "https://shop.example"


@dataclass
class ChatServer:
    url: str
    key: str
    secret: str  # the channel's identity secret, in clear
    channel_id: int
    queued: list[int] = field(default_factory=list)  # outbox rows to deliver (the test delivers them)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def http(self, origin: str | None = SHOP) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"{self.url}/chat/{self.key}", timeout=10,
                                 headers={"origin": origin} if origin else {})

    async def session(self, origin: str = SHOP, **body) -> httpx.Response:
        async with self.http(origin) as client:
            return await client.post("/session", json=body)

    async def token(self, **body) -> str:
        response = await self.session(**body)
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def socket(self, token: str, origin: str | None = SHOP, key: str | None = None):
        return Visitor(connect(f"{self.ws_url}/chat/{key or self.key}/socket?token={token}", origin=origin,
                               open_timeout=10))


class Visitor:
    """A widget's socket: frames in and out as JSON."""

    def __init__(self, connecting) -> None:
        self._connecting = connecting
        self.ws = None

    async def __aenter__(self) -> "Visitor":
        self.ws = await self._connecting.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._connecting.__aexit__(*exc)

    async def send(self, **frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, kind: str, timeout: float = 5, **having) -> dict:
        """The next frame of type `kind` with the fields in `having` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - time.monotonic())))
            if frame["type"] == kind and all(frame.get(k) == v for k, v in having.items()):
                return frame

    async def reply(self, timeout: float = 5) -> dict:
        """The next agent's message (the visitor's own come back too: for their other tabs)."""
        return await self.next("message", timeout, **{"from": "agent"})

    async def quiet(self, kind: str, seconds: float = 0.6, **having) -> None:
        """No frame of type `kind` (with `having`) within `seconds`."""
        try:
            frame = await self.next(kind, timeout=seconds, **having)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected {kind} frame: {frame}")

    async def say(self, text: str, message_id: str | None = None) -> dict:
        message_id = message_id or str(uuid.uuid4())
        await self.send(type="message", id=message_id, text=text)
        return await self.next("ack")

    async def hello(self, after: int = 0) -> dict:
        await self.send(type="hello", after=after)
        return await self.next("history")


class ServerThread:
    """uvicorn serving `app` from its own thread and event loop, as a web process would."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    ws_ping_interval=None))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the chat server did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
async def chat(settings, sessions):
    """A chat channel "shop" for https://shop.example, served; agents' replies are queued for the test,
    which delivers them; the chat and email senders are the real ones."""
    receive.install()
    previous = {channel: _senders.get(channel) for channel in ("chat", "email")}
    register_sender(ChatSender(settings))
    register_sender(SmtpSender(settings))  # replies to visitors who are away, and transcripts
    queued: list[int] = []
    outbox.set_enqueuer(lambda message_id, delay: queued.append(message_id))
    async with sessions() as session:
        made = await chat_channels.create_channel(session, settings, name="Shop chat", key="shop",
                                                  allowed_origins=[SHOP], prechat_fields=["name", "email"])
    public = PublicEndpoints()
    public.add_router(chat_router)
    with ServerThread(create_app(settings, public=public)) as url:
        yield ChatServer(url, "shop", made.identity_secret, made.channel.id, queued)
    outbox.set_enqueuer(None)
    for channel, sender in previous.items():
        if sender is not None:
            register_sender(sender)
        else:
            _senders.pop(channel, None)
