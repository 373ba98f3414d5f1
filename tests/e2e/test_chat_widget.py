"""The chat widget in Chromium, embedded on a shop's page of another origin, against a real `helpdesk serve`.

The shop is a second local origin (a tiny http.server) whose page carries a strict CSP (no inline
script or style) and a stylesheet that tries to restyle everything; an agent answers in the console
in a second browser context.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from channels.email.sink import MailSink
from helpdesk.settings import Settings
from tests.conftest import free_port, run_sync
from tests.e2e.conftest import _seed_agents, e2e_settings, signed_in_page, start_server, stop_server
from tests.support.processes import stop, wait_until_serving

HOSTILE_CSS = "* { all: unset; font-size: 40px !important; color: red !important }\na { display: inline }\n"
# Wraps the page's WebSocket so a test can drop the widget's socket, or refuse new ones for a while
CAPTURE_SOCKETS = """(() => {
  const Native = window.WebSocket;
  window.__sockets = []; window.__refuseSockets = false;
  function Captured(url, protocols) {
    const socket = new Native(window.__refuseSockets ? url.replace("/socket?", "/no-socket?") : url, protocols);
    window.__sockets.push(socket);
    return socket;
  }
  Captured.prototype = Native.prototype;
  Object.assign(Captured, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Captured;
  window.__violations = [];
  document.addEventListener("securitypolicyviolation", e => window.__violations.push(e.violatedDirective));
})();"""


class Shop:
    """Pages of a shop on its own origin, each embedding the widget of `helpdesk`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "shop.css").write_text(HOSTILE_CSS)
        handler = partial(_QuietHandler, directory=str(root))
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, name: str, helpdesk: str, key: str, **attributes: str) -> str:
        """Writes a page embedding the widget; returns its address."""
        extra = "".join(f' data-{k.replace("_", "-")}="{v}"' for k, v in attributes.items())
        ws = helpdesk.replace("http://", "ws://")
        (self.root / f"{name}.html").write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src {helpdesk}; connect-src {helpdesk} {ws}; style-src 'self'; img-src 'self'">
<title>Leaf and Kettle</title><link rel="stylesheet" href="shop.css"></head>
<body><h1>Leaf and Kettle</h1><p>Teas and teapots.</p><a href="#teas">Our teas</a>
<script src="{helpdesk}/widget.js" data-channel="{key}"{extra} async></script></body></html>""")
        return f"{self.origin}/{name}.html"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


async def _seed_chat(settings, shop_origin: str, mail_sink) -> dict:
    """Two channels for the shop's origin (one enforcing verification), a mailbox sending through
    `mail_sink` (transcripts), and Ann, a customer by email."""
    from helpdesk.channel import Identity, InboundMessage, ThreadKeys
    from helpdesk.chat.channels import create_channel
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.inbound.mailboxes import add_mailbox

    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    async with sessions() as session:
        shop = await create_channel(session, settings, name="Leaf & Kettle", key="shop", colour="#2f4a32",
                                    allowed_origins=[shop_origin], prechat_fields=["name", "email"])
    async with sessions() as session:
        strict = await create_channel(session, settings, name="Members' desk", key="members",
                                      allowed_origins=[shop_origin], prechat_fields=["name", "email"],
                                      enforce_verification=True)
    async with sessions() as session:
        await add_mailbox(session, {"address": "support@shop.test", "name": "Leaf & Kettle", "smtp_host": mail_sink.host,
                                    "smtp_port": str(mail_sink.port), "smtp_security": "none"})
    async with sessions() as session:
        ann = await ingest(session, InboundMessage(
            channel="email", external_id="<ann-1@example.com>", sender=Identity("email", "ann@example.com", "Ann"),
            subject="Teapot", text="My teapot is cracked.", html=None, attachments=[], thread_keys=ThreadKeys(),
            received_at=datetime.now(timezone.utc)), settings=settings)
    await engine.dispose()
    return {"shop_secret": shop.identity_secret, "members_secret": strict.identity_secret,
            "ann_customer_id": ann.customer_id}


def _query(settings, sql: str, **params) -> list[tuple]:
    from sqlalchemy import text

    from helpdesk.db import make_engine

    async def go():
        engine = make_engine(settings)
        try:
            async with engine.connect() as conn:
                return [tuple(row) for row in (await conn.execute(text(sql), params)).all()]
        finally:
            await engine.dispose()

    return run_sync(go())


@pytest.fixture(scope="module", autouse=True)
def patient_expect():
    """A message crosses the widget, the socket, ingest and the console's stream: on a busy machine
    that can take longer than Playwright's 5 s default."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=None)  # back to Playwright's default for the other modules


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def chat(request, tmp_path_factory):
    """A helpdesk with agents, two chat channels and Ann; a shop on another origin embedding them."""
    tmp_path = tmp_path_factory.mktemp(f"chat-{request.param}")
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "helpdesk.sqlite3")
        database_url = f"sqlite:///{tmp_path / 'helpdesk.sqlite3'}"
    else:
        from tests.conftest import _truncate_postgres

        database_url = request.getfixturevalue("postgres_url")
        run_sync(_truncate_postgres(database_url))
    shop_root = tmp_path / "shop"
    shop_root.mkdir()
    shop = Shop(shop_root)
    mail_sink = MailSink(tmp_path / "sent-mail")
    mail_sink.start()
    settings = e2e_settings(tmp_path, database_url)
    _seed_agents(settings)
    seeded = run_sync(_seed_chat(settings, shop.origin, mail_sink))
    server = start_server(tmp_path, settings, database_url)
    server.shop, server.seeded, server.tmp_path, server.database_url = shop, seeded, tmp_path, database_url
    server.sent_mail = mail_sink.folder
    yield server
    stop_server(server)
    shop.close()
    mail_sink.stop()


def _visitor(browser, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.add_init_script(CAPTURE_SOCKETS)
    return context, page


def _wait(page, script: str, timeout: float = 20) -> None:
    """Polls `script` in the page (the shop's CSP forbids the string evaluation wait_for_function uses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"timed out waiting for {script}"
        time.sleep(0.1)


def _open_widget(page, url: str) -> None:
    page.goto(url)
    launcher = page.get_by_role("button", name=re.compile("Chat with us"))
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")


def _start_chat(page, name: str = "Ann Example", email: str | None = "ann.visitor@example.com") -> None:
    form = page.locator("form.prechat")
    form.get_by_label("Your name").fill(name)
    if email is not None:
        form.get_by_label("Your email").fill(email)
    form.get_by_role("button", name="Start chat").click()
    expect(page.locator("form.compose")).to_be_visible()


def _say(page, text: str) -> None:
    box = page.locator("form.compose").get_by_label("Message")
    box.fill(text)
    box.press("Enter")


def _bubbles(page, side: str = "") -> list[str]:
    return page.locator(f".msg{'.' + side if side else ''} .bubble").all_inner_texts()


def _online(server, key: str = "shop") -> None:
    """Waits until the channel counts an agent online (the console's live stream marks presence)."""
    deadline = time.monotonic() + 30
    while not httpx.get(f"{server.url}/chat/{key}/config", headers={"Origin": server.shop.origin}).json()["online"]:
        assert time.monotonic() < deadline, "no agent came online for the channel"
        time.sleep(0.5)


def _agent(browser, server):
    context, page = signed_in_page(browser, server)
    page.goto(server.url + "/console")
    _online(server)
    return context, page


@pytest.fixture
def agent_online(browser, chat):
    """Bea with the console open, so the channels are online; (context, page)."""
    context, page = _agent(browser, chat)
    yield context, page
    context.close()


def _conversation(page, settings) -> dict:
    """The widget's conversation as the database has it, found through the token in the page's storage."""
    token = page.evaluate("localStorage.getItem('helpdesk-chat:' + document.querySelector('script[data-channel]')"
                          ".dataset.channel)")
    if not token:
        return {}
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    rows = _query(settings, "SELECT ticket_id, customer_id, verified, email FROM chat_conversations "
                          "WHERE public_id = :id", id=claims["sub"])
    return dict(zip(("ticket_id", "customer_id", "verified", "email"), rows[0])) if rows else {}


def _jwt(secret: str, **claims) -> str:
    import jwt

    return jwt.encode(claims, secret, algorithm="HS256")


# The first test runs before any agent has opened the console: the channel is offline.
def test_with_nobody_online_the_widget_says_so_and_takes_a_message_for_email(browser, chat):
    context, page = _visitor(browser)
    _open_widget(page, chat.shop.page("offline", chat.url, "shop"))
    offline = page.locator("form.offline")
    expect(offline).to_contain_text("No one is available to chat right now")
    expect(page.locator("form.compose")).to_be_hidden()
    offline.get_by_label("Your name").fill("Olga")
    offline.get_by_role("button", name="Send").click()
    expect(offline.locator(".error-text")).to_have_text("Please give an email address we can answer.")
    offline.get_by_label("Your email").fill("olga@example.com")
    offline.get_by_label("Message").fill("Do you ship to Norway?")
    offline.get_by_role("button", name="Send").click()
    expect(page.locator(".notice")).to_have_text("Thanks! We'll answer by email to olga@example.com.")
    deadline = time.monotonic() + 15
    while not (rows := _query(chat.settings, "SELECT m.text FROM messages m JOIN chat_conversations c ON c.ticket_id = "
                                    "m.ticket_id WHERE c.email = 'olga@example.com'")):
        assert time.monotonic() < deadline, "the offline message did not become a ticket"
        time.sleep(0.3)
    assert "Do you ship to Norway?" in rows[0][0]
    assert page.errors == [] and page.evaluate("window.__violations") == []
    context.close()


def test_visitor_and_agent_chat_live_and_a_reload_keeps_the_history(browser, chat, tmp_path):
    agent_context, agent = _agent(browser, chat)
    context, page = _visitor(browser)
    _open_widget(page, chat.shop.page("chat", chat.url, "shop"))
    expect(page.locator(".title")).to_have_text("Leaf & Kettle")
    expect(page.locator(".status")).to_have_text("Online: we answer in minutes")
    _start_chat(page)
    _say(page, "Hello! Where is order 1042?\n<b>not bold</b>")
    expect(page.locator(".msg.visitor .meta").last).to_contain_text("Sent")
    ticket_id = _conversation(page, chat.settings)["ticket_id"]
    assert ticket_id

    agent.goto(f"{chat.url}/console/tickets/{ticket_id}")
    expect(agent.locator(".text-body", has_text="Hello! Where is order 1042?")).to_be_visible(timeout=15000)
    agent.wait_for_timeout(1000)  # the ticket's live stream connects after the page has loaded
    page.locator("form.compose").get_by_label("Message").press_sequentially("It was due", delay=60)
    expect(agent.get_by_text(re.compile(r"Ann Example is typing"))).to_be_visible()  # typing, visitor to agent
    _say(page, "It was due on Monday.")
    expect(agent.locator(".text-body", has_text="It was due on Monday.")).to_be_visible(timeout=15000)  # live in the console

    agent.locator("#reply-body").press_sequentially("Hi Ann! ", delay=80)
    expect(page.locator(".typing")).to_have_text("Bea is typing…", timeout=15000)
    page.keyboard.press("Escape")  # the visitor closes the panel: the answer shows on the launcher
    agent.locator("#reply-body").fill("Hi Ann! It left our warehouse this morning.")
    agent.locator("#reply-body").press("Control+Enter")
    launcher = page.get_by_role("button", name="Chat with us (1 new)")
    expect(launcher).to_be_visible(timeout=15000)  # live in the widget
    launcher.click()
    expect(page.locator(".badge")).to_be_hidden()
    reply = page.locator(".msg.agent").filter(has_text="It left our warehouse")
    expect(reply).to_be_visible()
    expect(page.locator(".typing")).to_have_text("")
    expect(reply.locator(".who")).to_have_text("Bea Agent")
    expect(page.locator(".msg.visitor .meta").last).to_contain_text("Seen", timeout=15000)  # the agent has it open
    page.screenshot(path=tmp_path / "visitor.png")
    agent.screenshot(path=tmp_path / "agent.png")

    page.reload()
    page.get_by_role("button", name=re.compile("Chat with us")).click()
    expect(page.locator(".msg.agent").filter(has_text="It left our warehouse")).to_be_visible()
    texts = _bubbles(page)
    assert texts == ["Hi! How can we help?", "Hello! Where is order 1042?\n<b>not bold</b>", "It was due on Monday.",
                     "Hi Ann! It left our warehouse this morning."], texts
    assert page.locator(".bubble b").count() == 0  # text, never markup
    assert page.errors == [] and page.evaluate("window.__violations") == []
    context.close()
    agent_context.close()


def test_a_dropped_socket_loses_nothing_and_shows_nothing_twice(browser, chat):
    agent_context, agent = _agent(browser, chat)
    context, page = _visitor(browser)
    _open_widget(page, chat.shop.page("drop", chat.url, "shop"))
    _start_chat(page, "Ben")
    _say(page, "First question")
    expect(page.locator(".msg.visitor .meta").last).to_contain_text("Sent")
    ticket_id = _conversation(page, chat.settings)["ticket_id"]

    page.evaluate("window.__refuseSockets = true; window.__sockets.forEach(s => s.close())")
    _say(page, "Typed while the connection is down")
    expect(page.locator(".msg.visitor .meta").last).to_have_text("Sending…")
    agent.goto(f"{chat.url}/console/tickets/{ticket_id}")
    agent.locator("#reply-body").fill("Answered while you were away")
    agent.locator("#reply-body").press("Control+Enter")
    expect(agent.locator(".text-body", has_text="Answered while you were away")).to_be_visible(timeout=15000)
    time.sleep(1.5)
    expect(page.locator(".status")).to_have_text("Reconnecting…")
    assert _bubbles(page, "agent")[-1] != "Answered while you were away"

    page.evaluate("window.__refuseSockets = false; window.dispatchEvent(new Event('online'))")
    expect(page.locator(".msg.agent").filter(has_text="Answered while you were away")).to_be_visible(timeout=20000)
    expect(page.locator(".msg.visitor .meta").last).not_to_have_text("Sending…", timeout=20000)
    expect(agent.locator(".text-body", has_text="Typed while the connection is down")).to_be_visible(timeout=15000)

    # the same socket dropped again at once: the unacknowledged message goes again with its id, stored once
    page.evaluate("window.__sockets.forEach(s => s.close())")
    _say(page, "Last words")
    expect(page.locator(".msg.visitor .meta").last).not_to_have_text("Sending…", timeout=20000)
    expected = ["Hi! How can we help?", "First question", "Typed while the connection is down",
                "Answered while you were away", "Last words"]
    assert sorted(_bubbles(page)) == sorted(expected)
    page.reload()
    page.get_by_role("button", name=re.compile("Chat with us")).click()
    expect(page.locator(".msg .bubble")).to_have_count(len(expected))
    assert sorted(_bubbles(page)) == sorted(expected)
    stored = _query(chat.settings, "SELECT text FROM messages WHERE ticket_id = :t", t=ticket_id)
    assert sorted(t for (t,) in stored) == sorted(expected[1:])
    context.close()
    agent_context.close()


def test_a_message_typed_while_the_server_is_down_is_sent_when_it_is_back(browser, chat):
    context, page = _visitor(browser)
    _open_widget(page, chat.shop.page("restart", chat.url, "shop"))
    agent_context, agent = _agent(browser, chat)
    page.reload()
    page.get_by_role("button", name=re.compile("Chat with us")).click()
    _start_chat(page, "Carla", "carla@example.com")
    _say(page, "Before the restart")
    expect(page.locator(".msg.visitor .meta").last).to_contain_text("Sent")
    agent_context.close()

    port = int(chat.url.rsplit(":", 1)[1])
    stop_server(chat)
    _say(page, "While the helpdesk restarts")
    expect(page.locator(".msg.visitor .meta").last).to_have_text("Sending…")
    restarted = start_server(chat.tmp_path, chat.settings, chat.database_url, port=port)
    chat.process = restarted.process
    expect(page.locator(".msg.visitor .meta").last).not_to_have_text("Sending…", timeout=30000)
    ticket_id = _conversation(page, chat.settings)["ticket_id"]
    stored = [t for (t,) in _query(chat.settings, "SELECT text FROM messages WHERE ticket_id = :t", t=ticket_id)]
    assert sorted(stored) == ["Before the restart", "While the helpdesk restarts"]
    assert _bubbles(page, "visitor") == ["Before the restart", "While the helpdesk restarts"]
    context.close()


def test_an_expired_or_wrongly_signed_identity_does_not_link_the_chat_to_the_customer(browser, chat):
    secret, ann = chat.seeded["shop_secret"], chat.seeded["ann_customer_id"]
    later = int((datetime.now(timezone.utc) + timedelta(minutes=10)).timestamp())
    earlier = int((datetime.now(timezone.utc) - timedelta(minutes=10)).timestamp())
    claims = {"sub": "42", "email": "ann@example.com", "name": "Ann"}
    cases = {
        "forged": {"identity_token": _jwt("not-the-channel-secret-but-as-long-as-one", exp=later, **claims)},
        "expired": {"identity_token": _jwt(secret, exp=earlier, **claims)},
        "bad-hash": {"user_id": "42", "user_hash": hmac.new(b"guess", b"42", hashlib.sha256).hexdigest()},
        "signed": {"identity_token": _jwt(secret, exp=later, **claims)},  # the control: this one links
    }
    agent_context, _ = _agent(browser, chat)
    for name, attributes in cases.items():
        context, page = _visitor(browser)
        _open_widget(page, chat.shop.page(f"identity-{name}", chat.url, "shop", **attributes))
        expect(page.locator("form.prechat")).to_be_hidden()  # the shop vouches: no form to fill in
        _say(page, f"Hello from the {name} page")
        if name == "signed":
            expect(page.locator(".msg.visitor .meta").last).to_contain_text("Sent")
        else:  # refused, or accepted as an anonymous visitor: either way never Ann
            page.wait_for_timeout(1500)
        conversation = _conversation(page, chat.settings)
        if name == "signed":
            assert conversation["verified"] and conversation["customer_id"] == ann, conversation
        else:
            assert not conversation.get("verified") and conversation.get("customer_id") != ann, (name, conversation)
        context.close()
    agent_context.close()


def test_with_verification_enforced_an_unsigned_visitor_cannot_claim_an_email(browser, chat, agent_online):
    context, page = _visitor(browser)
    _open_widget(page, chat.shop.page("members", chat.url, "members"))
    form = page.locator("form.prechat")
    expect(form.get_by_label("Your name")).to_be_visible()
    expect(form.get_by_label("Your email")).to_be_hidden()
    answer = page.evaluate("""async (url) => {
        const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                    body: JSON.stringify({name: "Mallory", email: "ann@example.com"})});
        return {status: r.status, body: await r.text()};
    }""", f"{chat.url}/chat/members/session")
    assert 400 <= answer["status"] < 500, answer
    assert not _query(chat.settings, "SELECT c.id FROM chat_conversations c JOIN chat_channels ch ON ch.id = c.channel_id "
                            "WHERE ch.key = 'members' AND c.email = 'ann@example.com'")

    # a member the shop signed in gets the chat on their own record, verified
    later = int((datetime.now(timezone.utc) + timedelta(minutes=10)).timestamp())
    token = _jwt(chat.seeded["members_secret"], sub="42", email="ann@example.com", name="Ann", exp=later)
    signed_context, signed = _visitor(browser)
    _open_widget(signed, chat.shop.page("members-signed", chat.url, "members", identity_token=token))
    expect(signed.locator("form.prechat")).to_be_hidden()
    context.close()
    signed_context.close()


def test_the_shops_stylesheet_does_not_reach_the_widget_nor_the_widget_the_shop(browser, chat, agent_online, tmp_path):
    for label, viewport in (("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844})):
        context, page = _visitor(browser, viewport)
        if label == "phone":
            page.emulate_media(reduced_motion="reduce")
        url = chat.shop.page("styles", chat.url, "shop")
        page.goto(url)
        page.get_by_role("button", name=re.compile("Chat with us")).wait_for()
        page.screenshot(path=tmp_path / f"widget-{label}-closed.png")
        page.get_by_role("button", name=re.compile("Chat with us")).click()
        _start_chat(page, "Dora", "dora@example.com")
        _say(page, "Does the page's CSS reach you?")
        expect(page.locator(".msg.visitor .meta").last).to_contain_text("Sent")
        page.screenshot(path=tmp_path / f"widget-{label}-open.png")
        styles = page.evaluate("""() => {
            const root = document.querySelector("[data-helpdesk-chat]").shadowRoot;
            const css = (selector, name) => getComputedStyle(root.querySelector(selector))[name];
            const panel = root.querySelector(".panel").getBoundingClientRect();
            return {bubbleSize: css(".msg.visitor .bubble", "fontSize"), bubbleColour: css(".msg.visitor .bubble", "color"),
                    bubbleBackground: css(".msg.visitor .bubble", "backgroundColor"),
                    animation: css(".panel", "animationName"),
                    agentColour: css(".msg.agent .bubble", "color"), titleSize: css(".title", "fontSize"),
                    launcher: css(".launcher", "position"), panelPosition: css(".panel", "position"),
                    textarea: css("textarea", "borderTopStyle"), panel: [panel.left, panel.top, panel.width, panel.height],
                    hostH1: getComputedStyle(document.querySelector("h1")).fontSize,
                    hostBody: getComputedStyle(document.body).fontFamily};
        }""")
        assert styles["bubbleSize"] == "15px" and styles["titleSize"] == "17px", styles
        assert styles["bubbleColour"] == "rgb(255, 255, 255)" and styles["agentColour"] == "rgb(31, 35, 40)", styles
        assert styles["bubbleBackground"] == "rgb(47, 74, 50)", styles  # the channel's colour, #2f4a32
        assert styles["animation"] == ("none" if label == "phone" else "hd-in"), styles
        assert styles["launcher"] == styles["panelPosition"] == "fixed" and styles["textarea"] == "solid", styles
        assert styles["hostH1"] == "40px"  # the shop's own rules still rule the shop
        if label == "phone":
            assert styles["panel"] == [0, 0, 390, 844], styles  # full screen on a phone
        else:
            assert styles["panel"][2] == 380, styles
        assert page.errors == [] and page.evaluate("window.__violations") == []
        context.close()


def test_the_widget_works_with_the_keyboard_alone(browser, chat):
    agent_context, _ = _agent(browser, chat)
    context, page = _visitor(browser)
    page.goto(chat.shop.page("keyboard", chat.url, "shop"))
    page.get_by_role("button", name=re.compile("Chat with us")).wait_for()
    launcher = page.get_by_role("button", name=re.compile("Chat with us"))
    _tab_to_launcher(page)
    page.keyboard.press("Enter")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("dialog", name="Leaf & Kettle")).to_be_visible()
    expect(page.locator("form.prechat").get_by_label("Your name")).to_be_focused()
    page.keyboard.type("Keyboard Kim")
    page.keyboard.press("Tab")
    page.keyboard.type("kim@example.com")
    page.keyboard.press("Enter")
    box = page.locator("form.compose").get_by_label("Message")
    expect(box).to_be_focused()
    page.keyboard.type("Line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("Line two")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.visitor .bubble").last).to_have_text("Line one\nLine two")
    expect(box).to_have_value("")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert page.evaluate("document.activeElement.shadowRoot.activeElement.classList.contains('launcher')")
    context.close()

    # on a phone the panel covers the page: Tab goes round inside it, not to the page hidden behind
    context, page = _visitor(browser, {"width": 390, "height": 844})
    page.goto(chat.shop.page("keyboard", chat.url, "shop"))
    _tab_to_launcher(page)
    page.keyboard.press("Enter")
    expect(page.locator("form.prechat").get_by_label("Your name")).to_be_focused()
    for _ in range(8):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.hasAttribute('data-helpdesk-chat')")
    for _ in range(8):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate("document.activeElement.hasAttribute('data-helpdesk-chat')")
    context.close()
    agent_context.close()


def _tab_to_launcher(page) -> None:
    page.get_by_role("button", name=re.compile("Chat with us")).wait_for()
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.shadowRoot?.activeElement?.classList.contains('launcher')"):
            return
    raise AssertionError("the launcher is not reachable with Tab")


def test_files_upload_within_the_limits_and_oversized_ones_are_refused_with_a_reason(browser, chat, tmp_path):
    agent_context, _ = _agent(browser, chat)
    context, page = _visitor(browser)
    _open_widget(page, chat.shop.page("files", chat.url, "shop"))
    _start_chat(page, "Finn", "finn@example.com")
    receipt = tmp_path / "receipt.txt"
    receipt.write_text("Order 1042, paid.")
    page.locator("form.compose input[type=file]").set_input_files(str(receipt))
    link = page.locator(".msg.visitor a.file")
    expect(link).to_contain_text("receipt.txt", timeout=15000)
    assert "token" not in link.get_attribute("href")  # the token goes in a header, never in an address
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_text() == "Order 1042, paid."
    assert download.value.suggested_filename == "receipt.txt"
    big = tmp_path / "video.mp4"
    with big.open("wb") as out:
        out.truncate(11 * 1024 * 1024)
    page.locator("form.compose input[type=file]").set_input_files(str(big))
    expect(page.locator(".notice")).to_contain_text("files can be at most 10 MB")
    page_html = tmp_path / "page.html"
    page_html.write_text("<script>alert(1)</script>")
    page.locator("form.compose input[type=file]").set_input_files(str(page_html))
    expect(page.locator(".msg.visitor.failed .meta")).to_contain_text("Not sent: pictures (PNG, JPEG, GIF, WebP)")

    _say(page, "Please send me all of this")
    expect(page.locator(".msg.visitor .meta").last).to_contain_text("Sent")
    page.get_by_role("button", name="Email me the transcript").click()
    expect(page.locator(".notice")).to_have_text("We've emailed the transcript to finn@example.com.")
    deadline = time.monotonic() + 15
    while not (mails := [p.read_text(errors="replace") for p in chat.sent_mail.glob("*.eml")
                         if "finn@example.com" in p.read_text(errors="replace")]):
        assert time.monotonic() < deadline, "no transcript arrived"
        time.sleep(0.3)
    assert "Please send me all of this" in mails[0]
    assert page.errors == []
    context.close()
    agent_context.close()


def test_a_helpdesk_that_is_not_the_demo_serves_no_demo_shop(chat):
    assert httpx.get(f"{chat.url}/demo/shop").status_code == 404
    widget = httpx.get(f"{chat.url}/widget.js")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith("text/javascript")


def test_the_demo_serves_a_shop_page_whose_widget_chats_with_the_console(browser, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    port, log = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "helpdesk", "serve", "--demo", "--port", str(port)],
                                   env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(process, base, log.read_text)
        assert f"{base}/demo/shop" in log.read_text().replace("\n", "")
        agent_context = browser.new_context()
        agent = agent_context.new_page()
        agent.goto(f"{base}/console/login")
        agent.get_by_label("Email").fill("admin@demo.test")
        agent.get_by_label("Password").fill("demo-password")
        agent.get_by_role("button", name="Sign in").click()
        agent.wait_for_url(lambda u: "/console/login" not in u)
        deadline = time.monotonic() + 30
        while not httpx.get(f"{base}/chat/demo/config").json()["online"]:
            assert time.monotonic() < deadline, "the demo's agent did not come online"
            time.sleep(0.5)

        context, page = _visitor(browser)
        page.goto(f"{base}/demo/shop")
        page.get_by_role("button", name=re.compile("Chat with us")).click()
        _start_chat(page, "Demo Dana", "dana@example.com")
        _say(page, "Is the gooseneck kettle in stock?")
        expect(page.locator(".msg.visitor .meta").last).to_contain_text("Sent")
        page.screenshot(path=tmp_path / "demo-shop.png")
        ticket_id = _conversation(page, Settings(data_dir=tmp_path / "var"))["ticket_id"]
        agent.goto(f"{base}/console/tickets/{ticket_id}")
        agent.locator("#reply-body").fill("Yes, we have 12 in stock.")
        agent.locator("#reply-body").press("Control+Enter")
        expect(page.locator(".msg.agent").filter(has_text="Yes, we have 12 in stock.")).to_be_visible(timeout=15000)
        assert page.errors == [] and page.evaluate("window.__violations") == []  # under the app's own CSP
        context.close()
        agent_context.close()
    finally:
        stop(process, signal.SIGTERM)
