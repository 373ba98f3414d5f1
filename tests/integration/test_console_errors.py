"""Console errors: a page in the console's style (or, for htmx, a message in #console-alert), never
Litestar's JSON and never a traceback; JSON stays outside /console; out-of-range numbers are 400/404."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
from litestar.testing import AsyncTestClient

from helpdesk.tickets import actions, queues
from tests.integration.test_console_roles import STREAMS, console_routes
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401

HUGE = "99999999999999999999"  # past 64 bits
INT32_PLUS = str(2**31)  # past PostgreSQL's INTEGER, within SQLite's


def assert_console_page(response, status: int, *, title: str, signed_in: bool = True) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html"), response.text[:300]
    assert "<html" in response.text and f"<h1>{title}</h1>" in response.text
    assert "status_code" not in response.text and "Traceback" not in response.text
    assert ('id="me"' in response.text) is signed_in  # the console layout, with the agent's name
    assert response.headers["vary"] == "HX-Request"


def assert_alert(response, status: int, *, title: str) -> None:
    """An htmx error: the true status, a fragment swapped over #console-alert, no page, no history entry."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["hx-retarget"] == "#console-alert" and response.headers["hx-reswap"] == "outerHTML"
    assert response.headers["hx-push-url"] == "false"
    assert "<html" not in response.text and 'id="console-alert"' in response.text and f"{title}." in response.text


async def test_unknown_ticket_customer_and_console_path_answer_with_the_console_404_page(client, shop):
    await sign_in(client, "agent")
    ticket = await client.get("/console/tickets/987654")
    assert_console_page(ticket, 404, title="Not found")
    assert "There is no ticket 987654." in ticket.text
    customer = await client.get("/console/customers/987654")
    assert_console_page(customer, 404, title="Not found")
    assert "There is no customer 987654." in customer.text
    # no route matched, so no session was read: the plain page, still HTML
    nowhere = await client.get("/console/no/such/page")
    assert_console_page(nowhere, 404, title="Not found", signed_in=False)


async def test_htmx_404_is_a_message_swapped_into_view(client, shop):
    await sign_in(client, "agent")
    ticket = await client.get("/console/tickets/987654", headers=htmx("workspace"))
    assert_alert(ticket, 404, title="Not found")
    assert "There is no ticket 987654." in ticket.text
    panel = await client.get("/console/customers/987654/panel", headers=htmx("customer-panel"))
    assert_alert(panel, 404, title="Not found")
    nowhere = await client.get("/console/no/such/fragment", headers=htmx("workspace"))
    assert_alert(nowhere, 404, title="Not found")


async def test_paths_outside_the_console_keep_json_errors(client, shop):
    await sign_in(client, "agent")
    for url in ("/no/such/page", "/webhooks/no-such-platform", "/api/v1/nothing"):
        response = await client.get(url)
        assert response.status_code in (404, 405) and response.headers["content-type"].startswith("application/json")
    assert (await client.get("/healthz")).json()["status"] == "ok"


async def test_a_page_above_the_agents_role_is_the_console_403(client, shop):
    await sign_in(client, "agent")
    page = await client.get("/console/admin/agents")
    # the role guard runs before the agent is loaded: the plain page, with the reason
    assert_console_page(page, 403, title="Not allowed", signed_in=False)
    assert "This page is for admins and above." in page.text
    assert_alert(await client.get("/console/admin/agents", headers=htmx("workspace")), 403, title="Not allowed")


async def test_a_post_without_its_csrf_token_says_the_form_expired(client, shop):
    token = await sign_in(client, "agent")
    url = f"/console/tickets/{shop.ticket_ids[0]}/properties"
    plain = await client.post(url, data={"status": "pending"})
    assert plain.status_code == 403 and "<h1>Form expired</h1>" in plain.text and "nothing changed" in plain.text
    stale = await client.post(url, data={"status": "pending"}, headers={**htmx("ticket-properties"),
                                                                        "x-csrftoken": token[::-1]})
    assert_alert(stale, 403, title="Form expired")


async def test_a_500_is_logged_with_its_traceback_and_shows_no_trace(client, shop, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(actions, "load_ticket_view", broken)
    await sign_in(client, "agent")
    url = f"/console/tickets/{shop.ticket_ids[0]}"
    with caplog.at_level(logging.ERROR, logger="helpdesk.web.console.errors"):
        page = await client.get(url)
        fragment = await client.get(url, headers=htmx("workspace"))
    assert_console_page(page, 500, title="Something went wrong")
    assert_alert(fragment, 500, title="Something went wrong")
    for response in (page, fragment):
        assert "secret internals" not in response.text and "RuntimeError" not in response.text
    records = [r for r in caplog.records if r.name == "helpdesk.web.console.errors"]
    assert len(records) == 2 and all(r.exc_info and r.exc_info[0] is RuntimeError for r in records)
    assert url in records[0].getMessage()


async def test_an_ended_session_never_takes_the_page_away_on_htmx(app, shop):
    async with AsyncTestClient(app=app) as client:
        await client.get("/console/login")
        token = client.cookies.get("helpdesk_csrf")
        here = f"http://testserver/console/tickets/{shop.ticket_ids[0]}"
        # a live update's re-fetch and a form post alike: the message, with a way back in that returns
        # to the page (not the fragment); the page and its draft stay
        load = await client.get("/console/queues/counts", headers={**htmx("queue-nav"), "HX-Current-URL": here})
        post = await client.post(f"/console/tickets/{shop.ticket_ids[0]}/reply",
                                 headers={**htmx("conversation", token), "HX-Current-URL": here},
                                 data={"body": "half a reply"}, files={"attachments": ("", b"", "text/plain")})
        for response in (load, post):
            assert_alert(response, 401, title="Signed out")
            assert "hx-redirect" not in response.headers
            assert f'href="/console/login?next=/console/tickets/{shop.ticket_ids[0]}" target="_blank"' in response.text
        page = await client.get(f"/console/tickets/{shop.ticket_ids[0]}", follow_redirects=False)
        assert page.status_code in (302, 303) and page.headers["location"].startswith("/console/login?next=")


async def test_every_console_get_route_answers_out_of_range_numbers_without_a_500(app, client, shop):
    await sign_in(client, "admin")
    cursor = queues.encode_cursor(datetime.now(timezone.utc), int(HUGE))
    for method, path, _ in console_routes(app):
        if method != "GET" or ((method, path) in STREAMS and ":int}" not in path):
            continue
        for number in (HUGE, INT32_PLUS, "-" + HUGE):
            url = path.replace("{name:str}", "open")
            for name in ("ticket_id", "message_id", "customer_id", "attachment_id", "quarantine_id"):
                url = url.replace("{" + name + ":int}", number)
            query = {"after": cursor, "assignee": number, "ticket": number, "q": number, "tag": number}
            for headers in ({}, htmx("workspace")):
                response = await client.get(url, params=query, headers=headers, follow_redirects=False)
                assert response.status_code < 500, (url, number, response.status_code, response.text[:300])
                if ":int}" in path:
                    assert response.status_code == 404, (url, response.status_code)
                    assert "There is no" in response.text


@pytest.mark.parametrize("number", [HUGE, INT32_PLUS])
async def test_out_of_range_numbers_in_forms_are_the_forms_errors(client, shop, number):
    token = await sign_in(client, "lead")
    ticket, customer = shop.ticket_ids[0], shop.customer_id
    posts = [
        ("/console/queues/bulk", {"ticket_ids": number, "action": "status", "value": "pending"}),
        ("/console/queues/bulk", {"ticket_ids": str(ticket), "action": "assign", "value": number}),
        (f"/console/tickets/{ticket}/merge", {"target": number}),
        (f"/console/tickets/{ticket}/merge", {"target": "#" + HUGE + "0"}),
        (f"/console/tickets/{ticket}/properties", {"assignee_id": number}),
        (f"/console/tickets/{ticket}/properties", {"team_id": number}),
        (f"/console/tickets/{ticket}/canned", {"canned_id": number}),
        (f"/console/customers/{customer}", {"name": "Ann", "organization_id": number}),
        (f"/console/customers/{customer}/merge", {"target": number}),
        (f"/console/tickets/{number}/properties", {"status": "pending"}),
    ]
    for url, data in posts:
        for headers in ({"x-csrftoken": token}, htmx(None, token)):
            response = await client.post(url, headers=headers, data=data, follow_redirects=False)
            assert response.status_code in (200, 303, 400, 404), (url, data, response.status_code, response.text[:300])
            if response.status_code != 303:  # a select's nonsense value is "none" (the edit saves without it)
                assert response.headers["content-type"].startswith("text/html"), (url, response.text[:300])


def test_a_request_the_browser_abandoned_is_not_logged_as_a_server_error():
    from litestar.exceptions import InternalServerException

    from helpdesk.web.console.errors import CLIENT_GONE, describe

    assert describe(InternalServerException(CLIENT_GONE)).status_code == 400
    assert describe(InternalServerException("database on fire")).status_code == 500
