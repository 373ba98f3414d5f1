"""The console's search box: a ticket number opens the ticket, an email or phone finds the
customer, results page with "More results" (helpdesk/web/console/queues.py: search)."""
from __future__ import annotations

import json
import re

from helpdesk.inbound.ingest import ingest
from helpdesk.models import CustomerIdentity, Ticket
from tests.factories import inbound
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401


async def test_submitting_a_ticket_number_opens_the_ticket(client, shop, session):
    await sign_in(client)
    ticket = await session.get(Ticket, shop.ticket_ids[1])
    for query in (str(ticket.number), f"#{ticket.number}"):
        response = await client.get("/console/search", params={"q": query}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/console/tickets/{ticket.id}"


async def test_an_htmx_search_submit_with_a_number_answers_with_hx_location(client, shop, session):
    await sign_in(client)
    ticket = await session.get(Ticket, shop.ticket_ids[0])
    response = await client.get("/console/search", params={"q": f"#{ticket.number}"}, headers=htmx("workspace"))
    assert response.status_code == 200
    location = json.loads(response.headers["HX-Location"])
    assert location["path"] == f"/console/tickets/{ticket.id}" and location["target"] == "#workspace"


async def test_as_you_type_a_number_shows_that_ticket_first(client, shop, session):
    await sign_in(client)
    ticket = await session.get(Ticket, shop.ticket_ids[1])
    response = await client.get("/console/search", params={"q": f"#{ticket.number}"}, headers=htmx("search-results"))
    assert response.status_code == 200 and "<html" not in response.text
    first = re.search(r'role="option" id="search-hits-ticket-(\d+)"', response.text)
    assert first and int(first.group(1)) == ticket.id and "Broken teapot" in response.text


async def test_a_number_that_is_no_ticket_searches_the_text(client, shop):
    await sign_in(client)
    response = await client.get("/console/search", params={"q": "#987654"}, follow_redirects=False)
    assert response.status_code == 200 and "No tickets match" in response.text


async def test_an_email_or_phone_shows_the_customer_above_the_tickets(client, shop, session):
    await sign_in(client)
    session.add(CustomerIdentity(customer_id=shop.customer_id, kind="whatsapp", value="+491512345678"))
    await session.commit()
    for query in ("ANN@Example.com", "0049 151 2345678"):
        response = await client.get("/console/search", params={"q": query})
        assert response.status_code == 200
        page = response.text
        link = page.find(f'href="/console/customers/{shop.customer_id}"')
        assert link != -1 and "Ann Example" in page, query
        if "@" in query:
            assert link < page.find('data-ticket-id='), "the customer comes before the tickets"


async def test_more_results_loads_the_next_page_in_place(client, shop, session, settings):
    await sign_in(client)
    for n in range(23):
        await ingest(session, inbound(sender=f"c{n}@example.com", subject=f"Lamp {n}", text="The lamp flickers.",
                                      external_id=f"<lamp-{n}@example.com>"), settings=settings)
    first = await client.get("/console/search", params={"q": "lamp"}, headers=htmx("search-results"))
    assert first.text.count('data-ticket-id="') == 20
    more = re.search(r'id="search-hits-more".*?hx-get="([^"]+)"', first.text, re.S).group(1).replace("&amp;", "&")
    assert "list_id=search-hits" in more
    second = await client.get(more, headers=htmx("search-hits-more"))
    assert second.text.count('data-ticket-id="') == 3 and 'id="search-hits-more"' not in second.text
    assert "<ul" not in second.text  # options only: they replace the "More results" option
    ids = re.findall(r'data-ticket-id="(\d+)"', first.text + second.text)
    assert len(set(ids)) == 23
    page = await client.get("/console/search", params={"q": "lamp"})  # the search page: its own list
    assert 'id="search-page-hits" role="listbox"' in page.text and 'id="search-page-hits-more"' in page.text
