"""The agent console in Debian's Chromium: the things an agent does all day."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from helpdesk.channel import Identity, InboundMessage, ThreadKeys
from tests.conftest import run_sync
from tests.e2e.conftest import _seed_agents, e2e_settings, sign_in, start_server, stop_server
from tests.integration.conftest import dovecot, smtp_sink  # noqa: F401 - real IMAP and SMTP servers

HOSTILE_HTML = ('<p>Look at this</p><img src="x" onerror="alert(\'xss\')">'
                '<script>alert("xss")</script><a href="javascript:alert(1)">click</a>')


def _mail(subject: str, text: str, *, sender="ann@example.com", in_reply_to=None) -> tuple[bytes, str]:
    message = EmailMessage()
    message["From"] = f"Ann Example <{sender}>"
    message["To"] = "support@shop.test"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message_id = make_msgid(domain="example.com")
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(text)
    return bytes(message), message_id


async def _seed_shop(settings, dovecot, smtp_sink) -> dict:  # noqa: F811
    """Ann with two orders and a past ticket, an open ticket, and a message carrying hostile HTML."""
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import Mailbox, Order, OrderItem, Ticket

    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    now = datetime.now(timezone.utc)
    ann = Identity("email", "ann@example.com", "Ann Example")

    def inbound(external_id, subject, text, html=None, at=None, sender=ann):
        return InboundMessage(channel="email", external_id=external_id, sender=sender, subject=subject, text=text,
                              html=html, attachments=[], thread_keys=ThreadKeys(),
                              received_at=at or now - timedelta(minutes=5), account="support@shop.test")

    async with sessions() as session:
        session.add(Mailbox(name="Shop Support", smtp_host=smtp_sink.host, smtp_port=smtp_sink.port,
                            smtp_security="none", use_idle=True, **dovecot.mailbox_options()))
        await session.commit()
    async with sessions() as session:
        past = await ingest(session, inbound("<past@example.com>", "Invoice for my last order",
                                             "Please send the invoice.", at=now - timedelta(days=40)),
                            settings=settings)
        ticket = await session.get(Ticket, past.ticket_id)
        ticket.status, ticket.solved_at = "closed", now - timedelta(days=39)
        await session.commit()
    async with sessions() as session:
        opened = await ingest(session, inbound("<teapot@example.com>", "Cracked teapot",
                                               "The glass teapot arrived cracked, the spout is broken."),
                              settings=settings)
    async with sessions() as session:
        for n, (title, price) in enumerate((("Glass teapot 1 l", "29.90"), ("Sencha green tea 100 g", "8.90"))):
            session.add(Order(customer_id=opened.customer_id, source="shop", external_id=f"o{n}", number=f"#5100{n}",
                              status="fulfilled", currency="EUR", total=Decimal(price),
                              placed_at=now - timedelta(days=10 + n),
                              items=[OrderItem(sku=f"SKU{n}", title=title, quantity=1, unit_price=Decimal(price))]))
        await session.commit()
    async with sessions() as session:
        hostile = await ingest(session, inbound("<hostile@example.com>", "Strange attachment", "Look at this",
                                                html=HOSTILE_HTML, sender=Identity("email", "mallory@evil.test",
                                                                                   "Mallory")),
                               settings=settings)
    await engine.dispose()
    return {"ticket_id": opened.ticket_id, "past_ticket_id": past.ticket_id, "hostile_ticket_id": hostile.ticket_id}


@pytest.fixture
def shop_server(tmp_path, database_url, dovecot, smtp_sink):  # noqa: F811
    settings = e2e_settings(tmp_path, database_url)
    _seed_agents(settings)
    data = run_sync(_seed_shop(settings, dovecot, smtp_sink))
    server = start_server(tmp_path, settings, database_url)
    server.data = data
    yield server
    stop_server(server)


@pytest.fixture
def agent_page(browser, shop_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.errors = []
    page.dialogs = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, shop_server)
    yield page
    context.close()


def wait_until(check, timeout=15.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


def test_agent_opens_ticket_from_queue_and_sees_orders_and_past_tickets(agent_page, shop_server):
    page = agent_page
    page.goto(shop_server.url + "/console/queues/open")
    row = page.locator(f"#queue-list [data-ticket-id='{shop_server.data['ticket_id']}'] a.row-link")
    row.click()
    page.wait_for_url(f"**/console/tickets/{shop_server.data['ticket_id']}")
    panel = page.locator("#customer-panel")
    panel.wait_for()
    assert "Ann Example" in page.locator("#customer-name").inner_text()
    orders = page.locator("#customer-orders").text_content()  # line items sit in collapsed <details>
    assert "#51000" in orders and "Glass teapot 1 l" in orders and "Sencha green tea" in orders
    assert "Invoice for my last order" in page.locator("#customer-tickets").inner_text()
    assert "spout is broken" in page.locator("#timeline").inner_text()
    assert page.locator("#sla-clocks").count() == 1
    assert page.errors == []


def test_reply_goes_out_by_smtp_and_shows_sent(agent_page, shop_server, smtp_sink):  # noqa: F811
    page = agent_page
    page.goto(f"{shop_server.url}/console/tickets/{shop_server.data['ticket_id']}")
    page.locator("#reply-body").fill("We are sorry! A new teapot is on its way.")
    page.locator("#reply-body").press("Control+Enter")  # sends, as the Send button does
    assert wait_until(lambda: smtp_sink.messages), "no mail reached the SMTP server"
    envelope = smtp_sink.messages[0]
    assert envelope.rcpt_tos == ["ann@example.com"]
    content = envelope.content.decode()
    assert f"[#{shop_server.data['ticket_id']}]" in content and "<teapot@example.com>" in content
    outbound = page.locator(".message[data-direction='outbound'] [data-delivery='sent']")
    outbound.wait_for(timeout=15000)
    assert "A new teapot is on its way" in page.locator("#timeline").inner_text()
    assert page.errors == []


def test_new_email_appears_in_open_conversation_without_reload(agent_page, shop_server, dovecot):  # noqa: F811
    page = agent_page
    page.goto(f"{shop_server.url}/console/tickets/{shop_server.data['ticket_id']}")
    page.locator("#timeline").wait_for()
    page.evaluate("window.__noReload = true")
    time.sleep(1.5)  # the IDLE listener and the event stream are up
    raw, _ = _mail("Re: Cracked teapot", "Here is one more detail: the lid is chipped too.",
                   in_reply_to="<teapot@example.com>")
    dovecot.append(raw)
    page.locator("#timeline", has_text="the lid is chipped too").wait_for(timeout=20000)
    assert page.evaluate("window.__noReload") is True


def test_two_agents_see_each_other_on_the_same_ticket(browser, shop_server):
    url = f"{shop_server.url}/console/tickets/{shop_server.data['ticket_id']}"
    bea_context, lena_context = browser.new_context(), browser.new_context()
    try:
        bea, lena = bea_context.new_page(), lena_context.new_page()
        sign_in(bea, shop_server, "bea@shop.test")
        sign_in(lena, shop_server, "lena@shop.test")
        bea.goto(url)
        lena.goto(url)
        bea.locator("#presence", has_text="Lena").wait_for(timeout=20000)
        lena.locator("#presence", has_text="Bea").wait_for(timeout=20000)
        lena.locator("#reply-body").type("Hello Ann", delay=50)
        bea.locator("#presence", has_text="typing").wait_for(timeout=20000)
    finally:
        bea_context.close()
        lena_context.close()


def test_search_finds_ticket_by_word_from_message_body(agent_page, shop_server):
    page = agent_page
    page.goto(shop_server.url + "/console/")
    page.locator("#search").fill("spout")
    hit = page.locator(f"#search-hits [data-ticket-id='{shop_server.data['ticket_id']}']")
    hit.wait_for(timeout=10000)
    assert "Cracked teapot" in page.locator("#search-hits").inner_text()


def test_search_box_opens_a_ticket_by_number_and_walks_results_with_arrow_keys(agent_page, shop_server):
    page = agent_page
    ticket_id = shop_server.data["ticket_id"]  # a ticket's number is its id
    page.goto(shop_server.url + "/console/")
    page.locator("#search").click()
    page.keyboard.type(f"#{ticket_id}")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/console/tickets/{ticket_id}")
    assert "Cracked teapot" in page.locator("#ticket-title").inner_text()

    page.goto(shop_server.url + "/console/")
    page.locator("#search").fill("ann")  # Ann's two tickets, by her name
    options = page.locator("#search-hits [role=option]")
    options.nth(1).wait_for()
    search = page.locator("#search")
    assert search.get_attribute("aria-expanded") == "true"
    for key, current in (("ArrowDown", 0), ("ArrowDown", 1), ("ArrowDown", 1), ("ArrowUp", 0), ("ArrowDown", 1)):
        page.keyboard.press(key)
        assert search.get_attribute("aria-activedescendant") == options.nth(current).get_attribute("id")
        assert page.locator("#search-hits [aria-selected=true]").count() == 1
        assert options.nth(current).get_attribute("aria-selected") == "true"
    assert page.evaluate("document.activeElement.id") == "search"  # typing can go on
    chosen = options.nth(1).get_attribute("data-ticket-id")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/console/tickets/{chosen}")
    page.locator(f"#ticket-view[data-current-ticket='{chosen}']").wait_for()
    page.locator("#search-hits").wait_for(state="detached")
    page.wait_for_function("document.getElementById('search').getAttribute('aria-expanded') === 'false'",
                           timeout=5000)
    assert page.errors == []


def test_keyboard_shortcuts_move_open_and_help(agent_page, shop_server):
    page = agent_page
    page.goto(shop_server.url + "/console/queues/open")
    page.locator("#queue-list [data-ticket-id]").first.wait_for()
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("j")
    selected = page.locator("#queue-list [data-ticket-id].selected")
    assert selected.count() == 1
    ticket_id = selected.get_attribute("data-ticket-id")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/console/tickets/{ticket_id}")
    page.locator("#reply-body").wait_for()
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reply-body"
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    page.locator("#shortcut-help").wait_for(state="visible")
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    assert page.errors == []


def test_hostile_html_in_a_message_executes_nothing(agent_page, shop_server):
    page = agent_page
    page.goto(f"{shop_server.url}/console/tickets/{shop_server.data['hostile_ticket_id']}")
    page.locator("#timeline", has_text="Look at this").wait_for()
    time.sleep(1)
    assert page.dialogs == [] and page.errors == []
    timeline = page.locator("#timeline")
    assert timeline.locator("script").count() == 0
    assert timeline.locator("[onerror]").count() == 0
    assert timeline.locator("a[href^='javascript']").count() == 0
