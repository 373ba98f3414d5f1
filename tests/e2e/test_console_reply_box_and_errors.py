"""In Chromium: a canned response goes in at the cursor, and console errors are pages or messages."""
from __future__ import annotations

import pytest

from tests.conftest import run_sync
from tests.e2e.conftest import signed_in_page
from tests.e2e.test_console_browser import wait_until

APOLOGY = "Hi {{ customer.first_name }}, we are sorry about the teapot.\n{{ agent.first_name }}"


async def _seed(settings) -> int:
    """One ticket from Ann and one canned response; returns the ticket's id."""
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import CannedResponse
    from tests.factories import inbound

    engine = make_engine(settings)
    async with make_session_factory(engine)() as session:
        session.add(CannedResponse(title="Teapot apology", body=APOLOGY))
        await session.commit()
        result = await ingest(session, inbound(sender="ann@example.com", name="Ann Example", subject="Cracked teapot",
                                               text="The spout is broken."), settings=settings)
    await engine.dispose()
    return result.ticket_id


@pytest.fixture
def page(browser, live_server):
    live_server.ticket_id = run_sync(_seed(live_server.settings))
    context, page = signed_in_page(browser, live_server)
    yield page
    context.close()


def test_canned_response_goes_in_at_the_cursor_after_what_the_agent_typed(page, live_server):
    page.goto(f"{live_server.url}/console/tickets/{live_server.ticket_id}")
    box = page.locator("#reply-body")
    box.click()
    box.press_sequentially("Hello Ann,\n\n")
    page.locator("#canned-select").select_option(label="Teapot apology")
    expected = "Hello Ann,\n\nHi Ann, we are sorry about the teapot.\nBea"
    assert wait_until(lambda: box.input_value() == expected), repr(box.input_value())
    # the cursor sits after the inserted text, in the reply box: the agent types on
    assert page.evaluate("document.activeElement.id") == "reply-body"
    page.keyboard.type(" (Support)")
    assert box.input_value() == expected + " (Support)"
    # in the middle of a draft: at the cursor, nothing around it lost
    box.fill("Hello Ann,\n\nBest wishes")
    page.evaluate("document.getElementById('reply-body').setSelectionRange(12, 12)")
    page.locator("#canned-select").select_option(label="Teapot apology")
    middle = "Hello Ann,\n\nHi Ann, we are sorry about the teapot.\nBeaBest wishes"
    assert wait_until(lambda: box.input_value() == middle), repr(box.input_value())
    assert page.locator("#canned-select").input_value() == ""
    assert page.errors == []


def test_an_unknown_ticket_shows_the_console_404_page_and_an_htmx_404_a_message(page, live_server):
    response = page.goto(f"{live_server.url}/console/tickets/987654")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert page.locator("#error-message").inner_text() == "There is no ticket 987654."
    assert page.locator("#me").inner_text().startswith("Bea Agent")  # the console around it
    page.goto(f"{live_server.url}/console/tickets/{live_server.ticket_id}")
    page.locator("#timeline").wait_for()
    page.evaluate("htmx.ajax('GET', '/console/tickets/987654', {target: '#workspace'})")
    alert = page.locator("#console-alert")
    alert.wait_for(state="visible")
    assert "There is no ticket 987654." in alert.inner_text()
    assert page.url.endswith(f"/console/tickets/{live_server.ticket_id}")  # the conversation stays
    assert "spout is broken" in page.locator("#timeline").inner_text()
    alert.get_by_role("button", name="Dismiss").click()
    alert.wait_for(state="hidden")
    assert page.errors == []
