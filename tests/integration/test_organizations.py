"""Organizations: domains (normalised, unique, no free-mail), linking customers by email domain,
the organization page's numbers (customers, tickets, order totals per currency) and its screens."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from helpdesk.customers import organizations
from helpdesk.customers.organizations import OrganizationError
from helpdesk.inbound.ingest import ingest
from helpdesk.models import AuditEvent, Customer, Order, Ticket
from helpdesk.settings import load_settings
from tests.factories import inbound
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401


async def _customer(session, settings, email: str, name: str, subject: str = "Hello") -> int:
    result = await ingest(session, inbound(sender=email, name=name, subject=subject, text="hi"), settings=settings)
    return result.customer_id


def _order(customer_id: int, n: int, currency: str, total: str, status: str = "paid") -> Order:
    return Order(customer_id=customer_id, source="test", external_id=f"org-{customer_id}-{n}", number=f"#{n}",
                 status=status, currency=currency, total=Decimal(total), placed_at=datetime.now(timezone.utc))


@pytest.fixture
async def acme(session, settings):
    """Acme with two customers at acme.com (tickets and orders in two currencies) and one stranger."""
    org = await organizations.create_organization(session, "Acme")
    ann = await _customer(session, settings, "ann@acme.com", "Ann Acme", "Invoice missing")
    bob = await _customer(session, settings, "Bob@ACME.com", "Bob Acme", "Broken widget")
    stranger = await _customer(session, settings, "eve@elsewhere.org", "Eve Else", "Unrelated")
    session.add_all([_order(ann, 1, "EUR", "100.50"), _order(ann, 2, "EUR", "20.00"), _order(bob, 3, "USD", "9.99"),
                     _order(bob, 4, "EUR", "50.00", status="refunded"), _order(stranger, 5, "EUR", "999.00")])
    await session.commit()
    return org, ann, bob, stranger


async def test_adding_a_domain_links_existing_customers_of_that_domain_only(session, acme):
    org, ann, bob, stranger = acme
    linked = await organizations.add_domain(session, org, "  @ACME.com ")
    assert linked == 2
    rows = dict((await session.execute(select(Customer.id, Customer.organization_id))).all())
    assert rows[ann] == rows[bob] == org.id and rows[stranger] is None
    assert org.id in {e.object_id for e in await session.scalars(select(AuditEvent).where(
        AuditEvent.action == "organization.domain_add"))}
    # a customer already in another organization stays there
    other = await organizations.create_organization(session, "Else Inc")
    customer = await session.get(Customer, stranger)
    customer.organization_id = org.id
    await session.commit()
    assert await organizations.add_domain(session, other, "elsewhere.org") == 0


async def test_new_customers_are_linked_on_first_contact(session, settings):
    org = await organizations.create_organization(session, "Initech")
    await organizations.add_domain(session, org, "initech.example")
    carl = await _customer(session, settings, "Carl@Initech.example", "Carl")
    assert (await session.get(Customer, carl)).organization_id == org.id


async def test_domains_are_normalised_unique_and_never_free_mail(session):
    org = await organizations.create_organization(session, "Acme")
    other = await organizations.create_organization(session, "Other")
    await organizations.add_domain(session, org, "https://Shop.ACME.com/contact")
    view = await organizations.load_organization_view(session, org.id)
    assert view.domains == ["shop.acme.com"]
    with pytest.raises(OrganizationError, match="already belongs to Acme"):
        await organizations.add_domain(session, other, "shop.acme.com")
    for free in ("gmail.com", "Outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "gmx.de", "web.de"):
        with pytest.raises(OrganizationError, match="free-mail domain"):
            await organizations.add_domain(session, org, free)
    for bad in ("", "acme", "acme..com", "-acme.com", "ac me.com", "acme_.com"):
        with pytest.raises(OrganizationError):
            await organizations.add_domain(session, org, bad)
    await organizations.remove_domain(session, org, "shop.acme.com")
    with pytest.raises(OrganizationError, match="has no domain"):
        await organizations.remove_domain(session, org, "shop.acme.com")
    with pytest.raises(OrganizationError, match="name"):
        await organizations.create_organization(session, "   ")
    with pytest.raises(OrganizationError, match="free-mail"):
        await organizations.create_organization(session, "Half", domains=["half.example", "gmail.com"])
    assert "Half" not in {row.name for row in await organizations.organization_rows(session)}


def test_the_free_mail_list_is_configurable():
    assert "gmail.com" in organizations.freemail_domains(None)
    settings = load_settings({"HELPDESK_DATA_DIR": "/tmp/helpdesk-test-freemail",
                              "HELPDESK_FREEMAIL_DOMAINS": "Mail.example, gmail.com"})
    assert organizations.freemail_domains(settings.freemail_domains) == {"mail.example", "gmail.com"}


async def test_organization_page_numbers(session, acme):
    org, ann, bob, stranger = acme
    await organizations.add_domain(session, org, "acme.com")
    solved = await session.scalar(select(Ticket).where(Ticket.customer_id == bob))
    solved.status = "solved"
    await session.commit()
    view = await organizations.load_organization_view(session, org.id)
    assert view.customer_count == 2 and {m.id for m in view.members} == {ann, bob}
    members = {m.id: m for m in view.members}
    assert (members[ann].open_tickets, members[ann].tickets, members[ann].orders) == (1, 1, 2)
    assert (members[bob].open_tickets, members[bob].tickets, members[bob].orders) == (0, 1, 2)
    assert members[ann].email == "ann@acme.com"
    assert view.open_ticket_count == 1 and [t.subject for t in view.open_tickets] == ["Invoice missing"]
    assert {t.subject for t in view.recent_tickets} == {"Invoice missing", "Broken widget"}
    totals = {t.currency: (t.orders, t.spent) for t in view.order_totals}
    assert totals == {"EUR": (3, Decimal("120.50")), "USD": (1, Decimal("9.99"))}  # the refund is not spent
    rows = {r.name: r for r in await organizations.organization_rows(session)}
    assert (rows["Acme"].customers, rows["Acme"].open_tickets, rows["Acme"].domains) == (2, 1, ["acme.com"])


async def test_organization_screens_read_for_agents_and_edit_for_leads(app, session, settings, shop):
    from litestar.testing import AsyncTestClient

    org = await organizations.create_organization(session, "Example Corp")
    session.add(_order(shop.customer_id, 77, "GBP", "12.34"))
    await session.commit()
    async with AsyncTestClient(app=app) as agent:
        token = await sign_in(agent, "agent")
        listing = await agent.get("/console/organizations/")
        assert listing.status_code == 200 and "Example Corp" in listing.text and 'id="organization-create"' not in listing.text
        page = await agent.get(f"/console/organizations/{org.id}")
        assert page.status_code == 200 and 'id="organization-domain-form"' not in page.text
        refused = await agent.post(f"/console/organizations/{org.id}/domains", headers={"x-csrftoken": token},
                                   data={"domain": "example.com"}, follow_redirects=False)
        assert refused.status_code == 403
    async with AsyncTestClient(app=app) as lead:
        token = await sign_in(lead, "lead")
        free = await lead.post(f"/console/organizations/{org.id}/domains", headers=htmx("organization-domains", token),
                               data={"domain": "gmail.com"})
        assert 'id="admin-error"' in free.text and "free-mail domain" in free.text and 'aria-invalid="true"' in free.text
        added = await lead.post(f"/console/organizations/{org.id}/domains", headers=htmx("organization-domains", token),
                                data={"domain": "Example.com"})
        assert added.headers.get("hx-location") and f"/console/organizations/{org.id}" in added.headers["hx-location"]
        page = await lead.get(f"/console/organizations/{org.id}")
        assert "Ann Example" in page.text and "12.34 GBP" in page.text and "Where is my order?" in page.text
        assert "2 open tickets" in page.text and "1 customer" in page.text
        renamed = await lead.post(f"/console/organizations/{org.id}", headers=htmx("organization-edit", token),
                                  data={"name": ""})
        assert "give the organization a name" in renamed.text
        made = await lead.post("/console/organizations/", headers={"x-csrftoken": token}, data={"name": "New Co"},
                               follow_redirects=False)
        assert made.status_code == 303 and made.headers["location"].startswith("/console/organizations/")
        listing = await lead.get("/console/organizations/")
        assert "New Co" in listing.text and 'id="organization-create"' in listing.text
        panel = await lead.get(f"/console/customers/{shop.customer_id}/panel", headers=htmx())
        assert f'href="/console/organizations/{org.id}"' in panel.text


def test_the_organizations_command(tmp_path):
    """`helpdesk organizations ...` run as a user runs it: in a subprocess, on SQLite."""
    import os
    from pathlib import Path

    from tests.integration.test_cli import helpdesk

    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'o.sqlite3'}",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]), HELPDESK_FREEMAIL_DOMAINS="mail.example")

    def ok(*args):
        done = helpdesk(["organizations", *args], env, tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "created organization 1: Acme, domains: acme.example, 0 customers linked" in ok(
        "create", "Acme", "--domain", "ACME.example")
    assert "added gmail.com: 0 customers linked" in ok("add-domain", "acme", "gmail.com")  # the list was replaced
    assert "Acme Corp" in ok("rename", "acme.example", "Acme Corp")
    listing = ok("list")
    assert "Acme Corp" in listing and "acme.example" in listing
    assert "customers: 0, open tickets: 0" in ok("show", "1")
    assert "removed gmail.com" in ok("remove-domain", "1", "gmail.com")
    for args, message in [(["add-domain", "1", "mail.example"], "mail.example is a free-mail domain"),
                          (["add-domain", "Nobody", "x.example"], "no organization 'Nobody'"),
                          (["create", "Other", "--domain", "acme.example"], "acme.example already belongs to Acme Corp"),
                          (["create", "Bad", "--domain", "not a domain"], "is not a domain")]:
        failed = helpdesk(["organizations", *args], env, tmp_path)
        assert failed.returncode == 1 and message in failed.stderr and "Traceback" not in failed.stderr, failed.stderr
    assert "Other" not in ok("list") and "Bad" not in ok("list")  # a refused domain created nothing


async def test_organization_page_issues_the_same_number_of_queries_for_one_or_many_customers(app, client, shop,
                                                                                              session, settings):
    """No N+1: an organization of 1 customer and one of 12 (with tickets and orders) cost the same statements."""
    from sqlalchemy import event

    small = await organizations.create_organization(session, "Small", domains=["small.example"])
    large = await organizations.create_organization(session, "Large", domains=["large.example"])
    await _customer(session, settings, "one@small.example", "One")
    for n in range(12):
        customer_id = await _customer(session, settings, f"p{n}@large.example", f"Person {n}", f"Question {n}")
        session.add_all([_order(customer_id, 100 + n, "EUR", "10.00"), _order(customer_id, 200 + n, "USD", "5.00")])
    await session.commit()
    await sign_in(client, "agent")
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = app.state.engine.sync_engine
    counts = {}
    for name, org in (("small", small), ("large", large)):
        await client.get(f"/console/organizations/{org.id}")  # warm caches (sessions)
        event.listen(engine, "before_cursor_execute", count)
        statements.clear()
        try:
            response = await client.get(f"/console/organizations/{org.id}")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200
        counts[name] = len(statements)
    assert "12 customers" in response.text and "120.00 EUR" in response.text
    assert counts["small"] == counts["large"] and counts["large"] <= 12, counts
