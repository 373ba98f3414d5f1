"""Customer merge in Chromium: a lead sees the panel's "Possible duplicate", finds the other record with
the type-ahead, compares both side by side, keeps one; the old record's link opens the survivor."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_sync
from tests.e2e.conftest import _seed_agents, e2e_settings, sign_in, start_server, stop_server
from tests.e2e.test_content_security_policy import RECORD_VIOLATIONS

SCREENSHOTS = Path(os.environ.get("HELPDESK_SCREENSHOTS", "/tmp/helpdesk-screenshots"))


async def _seed(settings) -> dict:
    """Ann by email with orders, and Ann again on WhatsApp with the same number as her phone."""
    from datetime import datetime, timedelta, timezone
    from decimal import Decimal

    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import CustomerIdentity, Order
    from tests.factories import inbound

    engine = make_engine(settings)
    async with make_session_factory(engine)() as session:
        email = await ingest(session, inbound(sender="ann@example.com", name="Ann Example", subject="Teapot cracked",
                                              text="The spout is broken."), settings=settings)
        whatsapp = await ingest(session, inbound(channel="whatsapp", sender="+4915112345678", name="Annie",
                                                 subject=None, text="Did you get my photo?"), settings=settings)
        # her phone, added after the WhatsApp chat began (had it come first, the chat would be hers already)
        session.add(CustomerIdentity(customer_id=email.customer_id, kind="phone", value="+4915112345678"))
        session.add(Order(customer_id=email.customer_id, source="test", external_id="o-1", number="#1001",
                          status="paid", currency="EUR", total=Decimal("49.00"),
                          placed_at=datetime.now(timezone.utc) - timedelta(days=3)))
        await session.commit()
    await engine.dispose()
    return {"ann": email.customer_id, "annie": whatsapp.customer_id}


@pytest.fixture
def merge_server(tmp_path, database_url):
    settings = e2e_settings(tmp_path, database_url)
    _seed_agents(settings)
    data = run_sync(_seed(settings))
    server = start_server(tmp_path, settings, database_url)
    server.data = data
    yield server
    stop_server(server)


def test_a_lead_merges_two_customers_through_the_type_ahead_and_the_side_by_side(browser, merge_server):
    ann, annie = merge_server.data["ann"], merge_server.data["annie"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        sign_in(page, merge_server, "lena@shop.test")
        page.goto(f"{merge_server.url}/console/customers/duplicates")
        suggestion = page.locator(f"#suggestion-{ann}-{annie}")
        assert "same phone +4915112345678" in suggestion.inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "customer-duplicates.png"))
        page.goto(f"{merge_server.url}/console/customers/{annie}")
        hint = page.locator("#customer-duplicates", has_text="Possible duplicate")
        hint.wait_for()  # fetched after the panel
        assert "same phone +4915112345678" in hint.inner_text()

        page.locator("#customer-merge-search").press_sequentially("ann@exa", delay=40)
        hit = page.locator("#customer-merge-hits a.merge-hit", has_text="Ann Example")
        hit.wait_for()
        page.screenshot(path=str(SCREENSHOTS / "customer-merge-type-ahead.png"))
        hit.click()

        page.locator("#merge-side-by-side").wait_for()
        left, right = page.locator(f"#merge-side-{annie}"), page.locator(f"#merge-side-{ann}")
        assert "Annie" in left.inner_text() and "whatsapp" in left.inner_text()
        assert "ann@example.com" in right.inner_text() and "49.00 EUR" in right.inner_text()
        assert right.locator(".merge-tickets").inner_text() == "1 (1 open)"
        page.screenshot(path=str(SCREENSHOTS / "customer-merge-side-by-side.png"), full_page=True)

        right.get_by_role("button", name="Keep Ann Example, merge the other into it").click()
        page.wait_for_url(f"**/console/customers/{ann}")
        identities = page.locator("#customer-identities")
        identities.locator("[data-identity-kind='whatsapp']").wait_for()
        assert page.locator("#customer-tickets li").count() == 2
        page.screenshot(path=str(SCREENSHOTS / "customer-merge-survivor.png"), full_page=True)

        page.goto(f"{merge_server.url}/console/customers/{annie}")  # the old record's link
        page.wait_for_url(f"**/console/customers/{ann}")
        page.goto(f"{merge_server.url}/console/customers/duplicates")
        page.locator("#duplicate-suggestions", has_text="No possible duplicates.").wait_for()
        assert page.errors == [] and page.evaluate("window.__violations") == []
    finally:
        context.close()
