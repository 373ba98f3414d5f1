"""In Chromium: a reply being written is kept on the server and comes back on reload, on another
device and after visiting another ticket; Ctrl+Enter sends it into view and ends the draft."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import run_sync
from tests.e2e.conftest import sign_in
from tests.support.console import add_orders


async def _seed(settings) -> list[int]:
    """Two open tickets from Ann, who has bought a lot: one new, one a long thread."""
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from tests.factories import inbound

    engine = make_engine(settings)
    ids = []
    async with make_session_factory(engine)() as session:
        for subject, text in (("Cracked teapot", "The spout is broken."), ("Invoice", "Please send the invoice.")):
            result = await ingest(session, inbound(sender="ann@example.com", name="Ann Example", subject=subject,
                                                   text=text), settings=settings)
            ids.append(result.ticket_id)
        for n in range(14):
            await ingest(session, inbound(sender="ann@example.com", subject="Re: Invoice", token=ids[1],
                                          text=f"Any news? ({n + 1})"), settings=settings)
        await add_orders(session, result.customer_id, 8)
    await engine.dispose()
    return ids


@pytest.fixture
def tickets(live_server):
    return run_sync(_seed(live_server.settings))


def agent_page(browser, server, email="bea@shop.test", *, width=1280, height=700):
    """A signed-in agent in a browser of their own (a device: its own cookies)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.errors, page.dialogs = [], []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    sign_in(page, server, email)
    return page


def open_ticket(page, server, ticket_id):
    page.goto(f"{server.url}/console/tickets/{ticket_id}")
    page.locator("#reply-body").wait_for()


def test_a_draft_comes_back_after_a_reload_and_on_another_device_until_discarded(browser, live_server, tickets):
    laptop = agent_page(browser, live_server)
    open_ticket(laptop, live_server, tickets[0])
    laptop.keyboard.press("n")  # an internal note
    laptop.keyboard.type("Ann called: a new teapot goes out Monday")
    expect(laptop.locator("#draft-status")).to_contain_text(re.compile(r"Draft saved \d\d:\d\d"))
    laptop.reload()
    expect(laptop.locator("#reply-body")).to_have_value("Ann called: a new teapot goes out Monday")
    expect(laptop.locator("#mode-note")).to_be_checked()

    phone = agent_page(browser, live_server, width=390, height=844)
    open_ticket(phone, live_server, tickets[0])
    expect(phone.locator("#reply-body")).to_have_value("Ann called: a new teapot goes out Monday")
    expect(phone.get_by_role("button", name="Add note")).to_be_visible()
    # another agent on the same ticket sees an empty box
    lena = agent_page(browser, live_server, "lena@shop.test")
    open_ticket(lena, live_server, tickets[0])
    expect(lena.locator("#reply-body")).to_have_value("")

    phone.on("dialog", lambda dialog: (phone.dialogs.append(dialog.message), dialog.accept()))
    phone.get_by_role("button", name="Discard draft").click()
    expect(phone.locator("#reply-body")).to_have_value("")
    expect(phone.locator("#mode-reply")).to_be_checked()
    assert phone.dialogs == ["Discard this draft? What you have written here is deleted."]
    laptop.reload()
    expect(laptop.locator("#reply-body")).to_have_value("")
    expect(laptop.locator("#draft-status")).to_have_text("")
    assert laptop.errors == phone.errors == lena.errors == []


def test_leaving_at_once_still_keeps_what_was_typed(browser, live_server, tickets):
    page = agent_page(browser, live_server)
    page.goto(f"{live_server.url}/console/queues/open")
    page.locator(f"#queue-list [data-ticket-id='{tickets[0]}'] a.row-link").click()
    page.locator("#reply-body").click()
    page.keyboard.type("Dear Ann, the teapot")
    # straight to the other ticket (an htmx swap of the workspace), before the second's pause is over
    page.locator(f"#queue-list [data-ticket-id='{tickets[1]}'] a.row-link").click()
    expect(page.locator("#ticket-title")).to_contain_text("Invoice")
    expect(page.locator("#reply-body")).to_have_value("")
    # the queue marks the ticket the draft is on
    expect(page.locator(f"#queue-list [data-ticket-id='{tickets[0]}'] .draft-mark")).to_be_visible()
    expect(page.locator(f"#queue-list [data-ticket-id='{tickets[1]}'] .draft-mark")).to_be_hidden()
    page.locator(f"#queue-list [data-ticket-id='{tickets[0]}'] a.row-link").click()
    expect(page.locator("#ticket-title")).to_contain_text("Cracked teapot")
    expect(page.locator("#reply-body")).to_have_value("Dear Ann, the teapot")
    # and when the page itself goes (a keepalive request outlives it)
    page.locator("#reply-body").press("End")
    page.keyboard.type(" is on its way.")
    page.goto(f"{live_server.url}/console/queues/open")
    page.locator(f"#queue-list [data-ticket-id='{tickets[0]}'] a.row-link").click()
    expect(page.locator("#reply-body")).to_have_value("Dear Ann, the teapot is on its way.")
    # Back after another ticket shows the draft as it is now, not as the page was first drawn
    page.locator("#reply-body").press("End")
    page.keyboard.type(" Bea")
    page.locator(f"#queue-list [data-ticket-id='{tickets[1]}'] a.row-link").click()
    expect(page.locator("#ticket-title")).to_contain_text("Invoice")
    page.go_back()
    expect(page.locator("#ticket-title")).to_contain_text("Cracked teapot")
    expect(page.locator("#reply-body")).to_have_value("Dear Ann, the teapot is on its way. Bea")
    assert page.errors == []


def test_a_draft_that_cannot_be_saved_says_so_and_leaving_asks_first(browser, live_server, tickets):
    page = agent_page(browser, live_server)
    page.goto(f"{live_server.url}/console/queues/open")
    page.locator(f"#queue-list [data-ticket-id='{tickets[0]}'] a.row-link").click()
    page.locator("#reply-body").fill("x" * 100_001)
    expect(page.locator("#draft-status")).to_contain_text("Draft not saved: a draft can be at most 100,000 characters")
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.locator(f"#queue-list [data-ticket-id='{tickets[1]}'] a.row-link").click()
    page.wait_for_timeout(500)
    assert page.dialogs == ["Your draft on this ticket is not saved. Leave it anyway?"]
    expect(page.locator("#ticket-title")).to_contain_text("Cracked teapot")  # still here, text and all
    assert len(page.locator("#reply-body").input_value()) == 100_001
    assert page.errors == []


def fully_visible(page, locator) -> bool:
    """On screen in the conversation's pane, and not under the reply box (which stays in view)."""
    box, pane = locator.bounding_box(), page.locator("#workspace").bounding_box()
    reply_box = page.locator("#reply-box").bounding_box()
    return box["y"] >= pane["y"] and box["y"] + box["height"] <= min(reply_box["y"], pane["y"] + pane["height"])


@pytest.mark.parametrize("thread", ["new", "long"])
def test_ctrl_enter_sends_the_reply_into_view_empties_the_box_and_ends_the_draft(browser, live_server, tickets, thread):
    page = agent_page(browser, live_server)
    open_ticket(page, live_server, tickets[0] if thread == "new" else tickets[1])
    page.keyboard.press("r")
    page.keyboard.type("We are sorry! A new teapot is on its way.")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    page.keyboard.press("Control+Enter")
    reply = page.locator(".message[data-direction='outbound']")
    expect(reply).to_contain_text("A new teapot is on its way")
    # the conversation stays in view: the new reply is on screen, right above an empty box
    assert fully_visible(page, reply), (reply.bounding_box(), page.locator("#reply-box").bounding_box())
    expect(page.locator("#reply-body")).to_have_value("")
    expect(page.locator("#draft-status")).to_have_text("")
    page.wait_for_timeout(1500)  # a save the keystrokes scheduled would have landed by now
    page.reload()
    expect(page.locator("#reply-body")).to_have_value("")
    expect(page.locator(".message[data-direction='outbound']")).to_have_count(1)
    # the box just emptied by a send keeps the next draft too
    page.keyboard.press("r")
    page.keyboard.type("And a follow-up")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".message[data-direction='outbound']")).to_have_count(2)
    expect(page.locator("#reply-body")).to_be_focused()  # the agent writes on
    page.keyboard.type("Third, not sent yet")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    page.reload()
    expect(page.locator("#reply-body")).to_have_value("Third, not sent yet")
    assert page.errors == []
