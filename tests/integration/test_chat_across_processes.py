"""A visitor's socket and the agent's console in different `helpdesk serve` processes: the agent's
reply, delivered by the other process's worker, reaches the visitor through Redis (or, without
Redis, the local relay). Real processes, real sockets, SQLite in the installation's data folder."""
from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import run_sync
from tests.support.installation import installation, signed_in  # noqa: F401 - the fixture

SHOP = "https://shop.example"


def _seed_channel(settings) -> None:
    from helpdesk.chat.channels import create_channel
    from helpdesk.db import make_engine, make_session_factory

    async def seed() -> None:
        engine = make_engine(settings)
        async with make_session_factory(engine)() as session:
            await create_channel(session, settings, name="Shop chat", key="shop", allowed_origins=[SHOP])
        await engine.dispose()

    run_sync(seed())


def _next(ws, kind: str, timeout: float = 10, **having) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame["type"] == kind and all(frame.get(k) == v for k, v in having.items()):
            return frame


@pytest.mark.parametrize("transport", ["redis", "local relay"])
def test_agent_reply_from_another_web_process_reaches_the_visitor(installation, transport, request):
    if transport == "redis":
        installation.env["HELPDESK_REDIS_URL"] = request.getfixturevalue("redis_url")
    _seed_channel(installation.settings)
    (visitor_url, _), (agent_url, _) = installation.serve(), installation.serve()

    session = httpx.post(f"{visitor_url}/chat/shop/session", json={"name": "Ann", "email": "ann@example.com"},
                         headers={"origin": SHOP}, timeout=10)
    assert session.status_code == 200, session.text
    socket_url = visitor_url.replace("http://", "ws://") + f"/chat/shop/socket?token={session.json()['token']}"
    with connect(socket_url, origin=SHOP, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello", "after": 0}))
        _next(ws, "history")
        ws.send(json.dumps({"type": "message", "id": str(uuid.uuid4()), "text": "Is my order on its way?"}))
        ack = _next(ws, "ack")
        ticket_id = installation.newest_ticket_id()

        bea = signed_in(agent_url, "bea@shop.test")
        sent_at = time.monotonic()
        replied = bea.post(f"/console/tickets/{ticket_id}/reply", data={"body": "Yes, it left today.", "mode": "reply"},
                           files={"attachments": ("", b"", "application/octet-stream")},
                           headers={"x-csrftoken": bea.cookies["helpdesk_csrf"]})
        assert replied.status_code in (200, 302, 303), replied.text
        frame = _next(ws, "message", **{"from": "agent"})
        assert frame["text"] == "Yes, it left today." and frame["name"] == "Bea Agent" and frame["seq"] > ack["seq"]
        assert time.monotonic() - sent_at < 5

        # the agent types in the other process: the visitor sees it too
        typed = bea.post(f"/console/tickets/{ticket_id}/presence", data={"state": "typing"},
                         headers={"x-csrftoken": bea.cookies["helpdesk_csrf"]})
        assert typed.status_code == 204, typed.text
        assert _next(ws, "typing") == {"type": "typing", "name": "Bea", "state": True}
