"""In Chromium: an organization's page with its numbers, and custom attributes added inline in the
customer panel (htmx swap, a refused value shown next to its field). Screenshots are kept in the
test's folder for a person to look at."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.conftest import run_sync
from tests.e2e.conftest import signed_in_page, start_server, stop_server, e2e_settings, _seed_agents


async def _seed_acme(settings) -> dict[str, int]:
    from helpdesk.customers import attributes, organizations
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import Customer, Order
    from tests.factories import inbound

    engine = make_engine(settings)
    ids = {}
    async with make_session_factory(engine)() as session:
        people = [("ann@acme.example", "Ann Acme", "Invoice 2041 is missing"),
                  ("bob@acme.example", "Bob Builder", "The widget arrived broken"),
                  ("cleo@acme.example", "Cleo Finance", "Please update our VAT number")]
        for n, (email, name, subject) in enumerate(people):
            done = await ingest(session, inbound(sender=email, name=name, subject=subject, text="Hello"), settings=settings)
            ids.setdefault("ann", done.customer_id)
            now = datetime.now(timezone.utc)
            for k, (currency, total) in enumerate((("EUR", "1250.00"), ("USD", "99.90"))[: 2 - n % 2]):
                session.add(Order(customer_id=done.customer_id, source="test", external_id=f"{n}-{k}",
                                  number=f"#10{n}{k}", status="paid", currency=currency, total=Decimal(total),
                                  placed_at=now - timedelta(days=n + k)))
        await session.commit()
        org = await organizations.create_organization(session, "Acme Industries", domains=["acme.example"])
        ids["org"] = org.id
        ann = await session.get(Customer, ids["ann"])
        for key, type, value in [("plan", "text", "Enterprise"), ("seats", "number", "1250"),
                                 ("renews_on", "date", "2026-03-31"), ("vip", "bool", "yes"),
                                 ("crm_record", "url", "https://crm.example/accounts/ann?tab=1")]:
            await attributes.set_attribute(session, ann, key, type, value)
    await engine.dispose()
    return ids


@pytest.fixture
def acme_server(tmp_path, database_url):
    settings = e2e_settings(tmp_path, database_url)
    _seed_agents(settings)
    ids = run_sync(_seed_acme(settings))
    server = start_server(tmp_path, settings, database_url)
    yield server, ids
    stop_server(server)


def test_organization_page_and_attributes_in_the_panel(browser, acme_server, tmp_path):
    server, ids = acme_server
    context, page = signed_in_page(browser, server, viewport={"width": 1440, "height": 900}, email="lena@shop.test")
    page.goto(f"{server.url}/console/organizations/")
    assert page.locator("#organizations tr[data-organization-id]").count() == 1
    assert page.locator(".org-customers").inner_text() == "3"
    page.goto(f"{server.url}/console/organizations/{ids['org']}")
    assert page.locator("#organization-customer-count").inner_text() == "3 customers"
    assert page.locator("#organization-order-totals tr[data-currency='EUR'] .total").inner_text() == "3,750.00 EUR"
    assert page.locator("#organization-order-totals tr[data-currency='USD'] .total").inner_text() == "199.80 USD"
    assert page.locator("#organization-open-tickets li").count() == 3
    page.locator("#organization-domain").fill("gmail.com")
    page.locator("#organization-domain-form button").click()
    page.locator("#organization-domains .error").wait_for()
    assert "free-mail domain" in page.locator("#organization-domains .error").inner_text()
    page.screenshot(path=str(tmp_path / "organization.png"), full_page=True)

    page.goto(f"{server.url}/console/customers/{ids['ann']}")
    panel = page.locator("#customer-attributes")
    assert panel.locator("[data-attribute-key='vip'] dd .badge").inner_text() == "yes"
    assert panel.locator("[data-attribute-key='renews_on'] time").inner_text() == "31 Mar 2026"
    link = panel.locator("a.attribute-link")
    assert link.get_attribute("rel") == "noopener nofollow noreferrer"
    panel.locator(".attribute-add summary").click()
    page.locator("#attribute-key").fill("Account manager")
    page.locator("#attribute-value").fill("Dana")
    page.locator("#attribute-add-form button").click()
    page.locator("[data-attribute-key='account_manager']").wait_for()
    page.locator(".attribute-add summary").click()
    page.locator("#attribute-key").fill("seats")
    page.locator("#attribute-type").select_option("number")
    page.locator("#attribute-value").fill("a dozen")
    page.locator("#attribute-add-form button").click()
    page.locator("#attribute-error").wait_for()
    assert "is not a number" in page.locator("#attribute-error").inner_text()
    page.locator("#customer-panel").screenshot(path=str(tmp_path / "customer-panel.png"))
    assert page.errors == []
    context.close()
