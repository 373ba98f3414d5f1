"""Every console template renders, as a page and as the fragments htmx asks for; admin screens work."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from helpdesk.models import Agent, CannedResponse, Mailbox
from helpdesk.paths import templates_dir
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401


def page_urls(shop) -> list[str]:
    ticket, customer = shop.ticket_ids[0], shop.customer_id
    return [
        "/console/", "/console/queues/mine", "/console/queues/unassigned", "/console/queues/open",
        "/console/queues/pending", "/console/queues/solved", "/console/queues/breaching",
        f"/console/queues/team:{shop.team_id}", "/console/queues/channel:email", "/console/search?q=parcel",
        f"/console/tickets/{ticket}", f"/console/customers/{customer}", "/console/sla/", "/console/admin/agents",
        "/console/admin/mailboxes", "/console/admin/canned",
    ]


def fragment_urls(shop) -> list[tuple[str, str]]:
    ticket, customer = shop.ticket_ids[0], shop.customer_id
    return [
        ("/console/queues/open", "queue-pane"), (f"/console/tickets/{ticket}", "workspace"),
        (f"/console/tickets/{ticket}/timeline", "conversation"), (f"/console/tickets/{ticket}/properties", "ticket-properties"),
        (f"/console/tickets/{ticket}/sla-clocks", "sla-clocks"), (f"/console/customers/{customer}/panel", "customer-panel"),
        (f"/console/customers/{customer}/orders", "customer-orders"), ("/console/queues/counts", "queue-nav"),
        ("/console/search?q=teapot", "search-results"), (f"/console/customers/{customer}", "workspace"),
        ("/console/sla/", "sla-board"),
    ]


async def test_every_page_and_fragment_renders_for_an_admin(client, shop, session):
    session.add(CannedResponse(title="Thanks", body="Thanks {{ customer.first_name }}!"))
    await session.commit()
    await sign_in(client, "admin")
    for url in page_urls(shop):
        response = await client.get(url)
        assert response.status_code == 200, (url, response.text[:500])
        assert "<html" in response.text and 'id="workspace"' in response.text, url
    for url, target in fragment_urls(shop):
        response = await client.get(url, headers=htmx(target))
        assert response.status_code == 200, (url, response.text[:500])
        assert "<html" not in response.text, url


def test_every_console_template_is_used_by_a_page_or_a_partial():
    """A template nobody includes is dead weight or a typo; each must be named somewhere."""
    folder = Path(templates_dir()) / "console"
    sources = "".join(p.read_text() for p in Path(templates_dir()).rglob("*.html"))
    sources += "".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "helpdesk").rglob("*.py"))
    for template in folder.glob("*.html"):
        assert f"console/{template.name}" in sources, template.name


async def test_admin_creates_agent_changes_role_and_deactivates(client, shop, session):
    token = await sign_in(client, "admin")
    created = await client.post("/console/admin/agents", headers={"x-csrftoken": token}, data={
        "name": "Carlos Agent", "email": "carlos@shop.test", "role": "agent", "password": "long-enough-1",
        "team_id": str(shop.team_id)})
    assert created.status_code == 200 and "Carlos Agent can now sign in." in created.text
    carlos = await session.scalar(select(Agent).where(Agent.email == "carlos@shop.test"))
    assert carlos.team_id == shop.team_id
    updated = await client.post(f"/console/admin/agents/{carlos.id}", headers={"x-csrftoken": token},
                                data={"role": "lead", "active": "0", "team_id": "none"})
    assert updated.status_code == 200
    carlos = await session.get(Agent, carlos.id, populate_existing=True)
    assert (carlos.role, carlos.active, carlos.team_id) == ("lead", False, None)
    short = await client.post("/console/admin/agents", headers={"x-csrftoken": token}, data={
        "name": "X", "email": "x@shop.test", "role": "agent", "password": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.text and "short" not in short.text.split("admin-error")[1][:200]
    self_demote = await client.post(f"/console/admin/agents/{shop.agents['admin']}", headers={"x-csrftoken": token},
                                    data={"role": "agent"})
    assert self_demote.status_code == 400 and "your own role" in self_demote.text


async def test_mailbox_secrets_go_in_and_never_come_out(client, shop, session):
    token = await sign_in(client, "admin")
    response = await client.post("/console/admin/mailboxes", headers={"x-csrftoken": token}, data={
        "address": "help@shop.test", "imap_host": "imap.shop.test", "imap_user": "help", "imap_password": "imap-secret-9",
        "smtp_host": "smtp.shop.test", "smtp_password": "smtp-secret-9", "imap_security": "tls", "smtp_security": "starttls"})
    assert response.status_code == 200 and "help@shop.test" in response.text
    assert "imap-secret-9" not in response.text and "smtp-secret-9" not in response.text
    mailbox = await session.scalar(select(Mailbox).where(Mailbox.address == "help@shop.test"))
    assert mailbox.imap_password == "imap-secret-9"
    listing = await client.get("/console/admin/mailboxes")
    assert "imap-secret-9" not in listing.text and "(password set)" in listing.text
    bad = await client.post("/console/admin/mailboxes", headers={"x-csrftoken": token}, data={
        "address": "nope", "imap_password": "leak-me-not"})
    assert bad.status_code == 400 and "leak-me-not" not in bad.text
    removed = await client.post(f"/console/admin/mailboxes/{mailbox.id}/delete", headers={"x-csrftoken": token})
    assert removed.status_code == 200 and await session.scalar(select(Mailbox.id).execution_options(populate_existing=True)) is None


async def test_admin_edits_a_mailbox_in_place_and_a_new_host_starts_reading_over(client, shop, session):
    mailbox = Mailbox(address="help@shop.test", imap_host="imap.old.test", imap_password="imap-secret-9",
                      auto_ack=True, uidvalidity=5, last_uid=9)
    session.add(mailbox)
    await session.commit()
    token = await sign_in(client, "admin")
    listing = await client.get("/console/admin/mailboxes")
    assert f'action="/console/admin/mailboxes/{mailbox.id}"' in listing.text and 'value="imap.old.test"' in listing.text
    assert "imap-secret-9" not in listing.text

    form = {"name": "Help", "imap_host": "imap.old.test", "imap_port": "993", "imap_user": "", "folder": "INBOX",
            "imap_security": "tls", "smtp_security": "starttls", "auto_ack": "0", "imap_password": "", "smtp_password": ""}
    saved = await client.post(f"/console/admin/mailboxes/{mailbox.id}", headers={"x-csrftoken": token}, data=form)
    assert saved.status_code == 200 and "help@shop.test updated." in saved.text and "starts over" not in saved.text
    row = await session.get(Mailbox, mailbox.id, populate_existing=True)
    assert (row.name, row.auto_ack, row.imap_password, row.uidvalidity, row.last_uid) == ("Help", False, "imap-secret-9", 5, 9)

    moved = await client.post(f"/console/admin/mailboxes/{mailbox.id}", headers={"x-csrftoken": token},
                              data={**form, "imap_host": "imap.new.test", "imap_password": "new-secret-1"})
    assert moved.status_code == 200 and "Reading starts over" in moved.text and "new-secret-1" not in moved.text
    row = await session.get(Mailbox, mailbox.id, populate_existing=True)
    assert (row.imap_host, row.imap_password, row.uidvalidity, row.last_uid) == ("imap.new.test", "new-secret-1", None, 0)

    bad = await client.post(f"/console/admin/mailboxes/{mailbox.id}", headers={"x-csrftoken": token},
                            data={**form, "imap_port": "99999", "imap_password": "leak-me-not"})
    assert bad.status_code == 400 and "a port is a number" in bad.text and "leak-me-not" not in bad.text
    assert (await session.get(Mailbox, mailbox.id, populate_existing=True)).imap_port == 993
    refused = await client.post(f"/console/admin/mailboxes/{mailbox.id}", data={**form, "name": "No token"})
    assert refused.status_code == 403
    assert (await session.get(Mailbox, mailbox.id, populate_existing=True)).name == "Help"


async def test_canned_responses_are_managed_and_checked(client, shop, session):
    token = await sign_in(client, "admin")
    ok = await client.post("/console/admin/canned", headers={"x-csrftoken": token},
                           data={"title": "Greeting", "body": "Hello {{ customer.first_name }}"})
    assert ok.status_code == 200 and "Saved Greeting." in ok.text
    bad = await client.post("/console/admin/canned", headers={"x-csrftoken": token},
                            data={"title": "Broken", "body": "Hello {{ customer.password }}"})
    assert bad.status_code == 400 and "does not render" in bad.text
    response_id = await session.scalar(select(CannedResponse.id))
    await client.post(f"/console/admin/canned/{response_id}/delete", headers={"x-csrftoken": token})
    assert await session.scalar(select(CannedResponse.id).execution_options(populate_existing=True)) is None


async def test_a_malformed_form_is_answered_with_the_console_page_never_a_json_error(client, shop):
    """Typed forms: a missing or nonsense field is the form's error, shown in HTML, not a validation 400 in JSON."""
    token = await sign_in(client, "admin")
    ticket, customer = shop.ticket_ids[0], shop.customer_id
    posts = [
        ("/console/queues/bulk", {"ticket_ids": "x", "action": "assign", "value": "nobody"}),
        (f"/console/customers/{customer}", {"organization_id": "abc", "name": "x" * 300}),
        (f"/console/customers/{customer}/merge", {"target": "abc"}),
        (f"/console/tickets/{ticket}/properties", {"assignee_id": "bogus"}),
        (f"/console/tickets/{ticket}/merge", {"target": "#x"}),
        (f"/console/tickets/{ticket}/canned", {"canned_id": "x"}),
        ("/console/admin/agents", {}),
        (f"/console/admin/agents/{shop.agents['agent']}", {"team_id": "99999", "active": "maybe"}),
        ("/console/admin/teams", {}),
        (f"/console/admin/teams/{shop.team_id}", {"lead_id": "x"}),
        ("/console/admin/canned", {}),
        ("/console/admin/mailboxes", {"address": "help@shop.test", "imap_port": "many"}),
    ]
    for url, data in posts:
        for headers in ({"x-csrftoken": token}, htmx(None, token)):
            response = await client.post(url, headers=headers, data=data, follow_redirects=False)
            assert response.status_code in (200, 400), (url, response.status_code, response.text[:300])
            assert response.headers["content-type"].startswith("text/html"), (url, response.text[:300])
    reply = await client.post(f"/console/tickets/{ticket}/reply", headers=htmx("conversation", token),
                              data={"body": "Hello", "send": "later"}, files={"attachments": ("", b"", "text/plain")})
    assert reply.headers["hx-retarget"] == "#reply-box" and "choose pending or solved" in reply.text


async def test_an_admin_form_error_shows_inside_the_form_next_to_its_field(client, shop):
    token = await sign_in(client, "admin")
    short = await client.post("/console/admin/agents", headers={"x-csrftoken": token},
                              data={"name": "X", "email": "x@shop.test", "role": "agent", "password": "short"})
    form = short.text.split('id="new-agent-form"')[1].split("</form>")[0]
    assert short.status_code == 400 and "at least 8 characters" in form
    assert 'required aria-invalid="true" aria-describedby="admin-error"' in form.split('name="password"')[1].split(">")[0]
    untitled = await client.post("/console/admin/canned", headers={"x-csrftoken": token}, data={"body": "Hi"})
    form = untitled.text.split('id="new-canned-form"')[1].split("</form>")[0]
    assert untitled.status_code == 400 and "give the canned response a title" in form


async def test_a_history_restore_gets_the_whole_page_and_every_answer_varies_on_hx_request(client, shop):
    await sign_in(client, "agent")
    restore = {**htmx("workspace"), "HX-History-Restore-Request": "true"}
    for url in ("/console/queues/open", f"/console/tickets/{shop.ticket_ids[0]}", f"/console/customers/{shop.customer_id}"):
        page = await client.get(url, headers=restore)
        assert page.status_code == 200 and "<html" in page.text, url
        assert page.headers["vary"] == "HX-Request", url
