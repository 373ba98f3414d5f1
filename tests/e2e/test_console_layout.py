"""In Chromium, at a desktop's 1440 px and a phone's 390 px: what is long still fits, and an
order's total sits on its order's line."""
from __future__ import annotations

import pytest

from tests.conftest import run_sync
from tests.e2e.conftest import sign_in

LONG_SUBJECT = "Pleasehelpmyorderwasnevershipped" + "a" * 120


async def _seed(settings) -> int:
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from tests.factories import inbound
    from tests.support.console import add_orders

    engine = make_engine(settings)
    async with make_session_factory(engine)() as session:
        result = await ingest(session, inbound(sender="ann@example.com", name="Ann Example", subject=LONG_SUBJECT,
                                               text="Where is it?"), settings=settings)
        await add_orders(session, result.customer_id, 3)
    await engine.dispose()
    return result.ticket_id


@pytest.mark.parametrize("width, height", [(1440, 900), (390, 844)])
def test_a_long_subject_wraps_inside_the_conversation_and_totals_sit_on_their_order_line(
        browser, live_server, width, height):
    ticket_id = run_sync(_seed(live_server.settings))
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        sign_in(page, live_server)
        page.goto(f"{live_server.url}/console/tickets/{ticket_id}")
        title = page.locator("#ticket-title")
        title.wait_for()
        assert LONG_SUBJECT in title.inner_text()
        # nothing runs past the page or under the properties column
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        title_box = title.bounding_box()
        properties = page.locator("#ticket-properties").bounding_box()
        if properties["y"] < title_box["y"] + title_box["height"]:  # side by side (desktop)
            assert title_box["x"] + title_box["width"] <= properties["x"]
        orders = page.locator("details.order")
        orders.first.wait_for()
        assert orders.count() == 3
        for n in range(orders.count()):
            number = orders.nth(n).locator(".order-number").bounding_box()
            total = orders.nth(n).locator("summary .total").bounding_box()
            assert abs(total["y"] - number["y"]) < number["height"] / 2, (n, number, total)
            assert total["x"] > number["x"]
    finally:
        context.close()
