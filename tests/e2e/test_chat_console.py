"""The agents' and admins' side of live chat in Chromium, against a real `helpdesk serve`: an admin
creates a channel and copies its snippet; an agent on a chat ticket sees the visitor (driven over
the real socket with `websockets`) online, typing, reading and leaving, and the visitor sees the
agent typing."""
from __future__ import annotations

import json
import re
import time
import uuid

import httpx
from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.conftest import run_sync
from tests.e2e.conftest import signed_in_page

SHOP = "https://shop.example"
SHOTS = "/tmp/chat-console-shots"


def _shot(page, name: str) -> None:
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_admin_creates_a_channel_fixes_an_origin_copies_the_snippet_and_rotates_the_secret(browser, live_server):
    context, page = signed_in_page(browser, live_server, viewport={"width": 1440, "height": 900},
                                   email="alex@shop.test")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(live_server.url + "/console/admin/agents")
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Live chat").click()
    expect(page.get_by_role("heading", name="Live chat", exact=True)).to_be_visible()

    page.get_by_label("Name", exact=True).fill("Leaf & Kettle")
    page.get_by_label("Colour", exact=True).fill("#2f4a32")
    page.get_by_label("Greeting", exact=True).fill("Hello! Tea questions?")
    origins = page.get_by_label(re.compile("Allowed origins"))
    origins.fill("https://shop.example\nshop.example/tea")
    page.get_by_label("email", exact=True).uncheck()
    page.get_by_role("button", name="Create channel").click()
    expect(page.locator("#admin-error")).to_contain_text("not an origin")
    expect(page.locator("#chat-origins")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Leaf & Kettle")  # nothing typed is lost
    origins.fill("https://shop.example\nhttps://tea.example:8443")
    page.get_by_role("button", name="Create channel").click()

    secret = page.locator("#identity-secret-value")
    expect(secret).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    first_secret = secret.inner_text()
    snippet = page.locator("#embed-snippet").inner_text()
    key = re.search(r'data-channel="([^"]+)"', snippet).group(1)
    assert snippet == f'<script src="{live_server.url}/widget.js" data-channel="{key}" async></script>'
    _shot(page, "admin-channel-new-1440")
    page.locator("#copy-snippet").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == snippet

    page.reload()  # the secret was shown once
    expect(page.locator("#embed-snippet")).to_have_text(snippet)
    expect(page.locator("#identity-secret-value")).to_have_count(0)
    assert first_secret not in page.content()

    page.once("dialog", lambda dialog: dialog.dismiss())  # thought better of it: nothing changes
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.locator("#identity-secret-value")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Rotate secret").click()
    expect(secret).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    assert secret.inner_text() != first_secret

    page.goto(live_server.url + "/console/admin/chat")
    row = page.locator(f'#chat-channels tr[data-channel-key="{key}"]')
    expect(row).to_contain_text("https://tea.example:8443")
    _shot(page, "admin-chat-list-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "admin-chat-list-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls in its card
    row.get_by_role("link", name="Leaf & Kettle").click()
    _shot(page, "admin-channel-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than a phone
    assert not page.errors
    context.close()


async def _chat_channel(settings) -> None:
    from helpdesk.chat.channels import create_channel
    from helpdesk.db import make_engine, make_session_factory

    engine = make_engine(settings)
    async with make_session_factory(engine)() as session:
        await create_channel(session, settings, name="Shop chat", key="shop", allowed_origins=[SHOP],
                             prechat_fields=["name"])
    await engine.dispose()


class Visitor:
    """The widget's side, over the real socket: frames as JSON."""

    def __init__(self, server) -> None:
        answer = httpx.post(f"{server.url}/chat/shop/session", json={"name": "Ann"}, headers={"origin": SHOP})
        assert answer.status_code == 200, answer.text
        self.ws = connect(f"{server.url.replace('http', 'ws')}/chat/shop/socket?token={answer.json()['token']}",
                          origin=SHOP, open_timeout=10)

    def send(self, **frame) -> None:
        self.ws.send(json.dumps(frame))

    def next(self, kind: str, timeout: float = 15, **having) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if frame["type"] == kind and all(frame.get(k) == v for k, v in having.items()):
                return frame


def test_an_agent_on_a_chat_ticket_sees_the_visitor_typing_reading_and_leaving(browser, live_server):
    run_sync(_chat_channel(live_server.settings))
    visitor = Visitor(live_server)
    visitor.send(type="hello", after=0)
    visitor.next("history")
    visitor.send(type="message", id=str(uuid.uuid4()), text="Is the green tea in stock?")
    visitor.next("ack")

    context, page = signed_in_page(browser, live_server, viewport={"width": 1440, "height": 900})
    page.goto(live_server.url + "/console/queues/channel:chat")
    page.locator("#queue-list a.row-link").first.click()
    status = page.locator("#chat-visitor")
    expect(status.locator(".chat-presence")).to_have_attribute("data-state", "online")
    expect(status).to_contain_text("Online")
    visitor.next("read")  # the agent opened it: the visitor sees their message read

    visitor.send(type="typing", state=True)
    expect(status.locator(".chat-typing")).to_have_text("Ann is typing…")
    _shot(page, "agent-chat-typing-1440")
    visitor.send(type="typing", state=False)
    expect(status.locator(".chat-typing")).to_have_count(0)

    page.locator("#reply-body").press_sequentially("Yes, ", delay=30)
    assert visitor.next("typing", state=True)["name"] == "Bea"  # the agent's first name only
    page.locator("#reply-body").fill("Yes, it is in stock.")
    page.locator("#send-button").click()
    reply = visitor.next("message", **{"from": "agent"})
    assert reply["text"] == "Yes, it is in stock."
    expect(page.locator("#chat-seen")).to_have_count(0)
    visitor.send(type="read", seq=reply["seq"])
    seen = page.locator(f'#message-{reply["seq"]} #chat-seen')
    expect(seen).to_have_text("Seen")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "agent-chat-seen-390")

    visitor.ws.close()
    expect(status.locator(".chat-presence")).to_have_attribute("data-state", "away")
    expect(status).to_contain_text("Away")
    assert not page.errors
    context.close()
