"""The ticket screen: reply through the outbox, notes, canned responses, properties, merge,
split, attachments, sanitised HTML, and a constant number of SQL statements per page."""
from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import event, func, select

from helpdesk.channel import Attachment as InAttachment
from helpdesk.tickets import canned_responses
from helpdesk.tickets import outbox
from helpdesk.inbound.ingest import ingest
from helpdesk.tickets.message_html import sanitise
from helpdesk.models import Agent, CannedResponse, Message, Ticket, TicketTag
from helpdesk.tickets.actions import TicketError, merge_tickets, split_message
from tests.factories import inbound
from tests.support.console import add_orders, app, client, htmx, shop, sign_in  # noqa: F401


@pytest.fixture
def queued():
    sent: list[int] = []
    outbox.set_enqueuer(lambda message_id, delay: sent.append(message_id))
    yield sent
    outbox.set_enqueuer(None)


# the reply form is multipart (it carries files); a browser sends an empty file part when none is chosen
NO_FILE = {"attachments": ("", b"", "application/octet-stream")}


async def messages_of(session, ticket_id, direction=None):
    query = select(Message).where(Message.ticket_id == ticket_id).execution_options(populate_existing=True)
    if direction:
        query = query.where(Message.direction == direction)
    return list(await session.scalars(query.order_by(Message.id)))


async def test_ticket_page_shows_conversation_panel_and_reply_box(client, shop):
    await sign_in(client, "agent")
    page = await client.get(f"/console/tickets/{shop.ticket_ids[0]}")
    assert page.status_code == 200 and page.headers["vary"] == "HX-Request"
    for element in ('id="conversation"', 'id="customer-panel"', 'id="reply-box"', 'id="sla-clocks"',
                    'name="body"', 'name="send"', "My parcel has not arrived.", "#5000", "Broken teapot"):
        assert element in page.text, element
    # the queue pane follows the conversation: the page asks for the agent's queue once loaded
    assert 'id="queue-list"' not in page.text and 'hx-get="/console/queues/mine" hx-trigger="load"' in page.text
    pane = await client.get("/console/queues/mine", headers=htmx("queue-pane"))
    assert 'id="queue-list"' in pane.text and "<html" not in pane.text
    fragment = await client.get(f"/console/tickets/{shop.ticket_ids[0]}", headers=htmx("workspace"))
    assert "<html" not in fragment.text and 'id="conversation"' in fragment.text and 'id="queue-list"' not in fragment.text


async def test_reply_queues_an_outbound_message_and_a_note_does_not(client, shop, session, queued):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    response = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                                 data={"body": "Your parcel ships today.", "mode": "reply", "send": "solved"},
                                 files={"attachments": ("label.txt", b"tracking 123", "text/plain")})
    assert response.status_code == 200 and "Your parcel ships today." in response.text
    assert 'hx-swap-oob="true"' in response.text
    [reply] = await messages_of(session, ticket_id, "outbound")
    assert reply.delivery_status == "queued" and queued == [reply.id] and reply.agent_id == shop.agents["agent"]
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket.status == "solved"

    response = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                                 data={"body": "Customer called, see CRM.", "mode": "note"}, files=NO_FILE)
    assert response.status_code == 200 and "Internal note" in response.text
    [note] = await messages_of(session, ticket_id, "note")
    assert note.delivery_status is None and queued == [reply.id]  # nothing new to send
    assert (await session.scalar(select(func.count()).select_from(Message)
                                 .where(Message.ticket_id == ticket_id, Message.direction == "outbound"))) == 1


async def test_empty_reply_shows_the_error_in_the_reply_box(client, shop, queued):
    token = await sign_in(client, "agent")
    response = await client.post(f"/console/tickets/{shop.ticket_ids[0]}/reply", headers=htmx("conversation", token),
                                 data={"body": "  ", "mode": "reply"}, files=NO_FILE)
    assert response.headers["hx-retarget"] == "#reply-box"
    assert 'id="reply-error"' in response.text and "write a reply" in response.text and queued == []
    plain = await client.post(f"/console/tickets/{shop.ticket_ids[0]}/reply", headers={"x-csrftoken": token},
                              data={"body": "", "mode": "reply"}, files=NO_FILE, follow_redirects=False)
    assert plain.status_code == 400 and 'id="reply-error"' in plain.text


async def test_reply_without_csrf_token_is_refused(client, shop, queued):
    await sign_in(client, "agent")
    response = await client.post(f"/console/tickets/{shop.ticket_ids[0]}/reply", data={"body": "hi"}, files=NO_FILE)
    assert response.status_code == 403 and queued == []


async def test_canned_response_fills_placeholders_in_a_sandbox(client, shop, session):
    session.add(CannedResponse(title="Hello", body="Hi {{ customer.first_name }}, about #{{ ticket.number }}. {{ agent.name }}"))
    session.add(CannedResponse(title="Evil", body="{{ ticket.__class__.__mro__ }}"))
    await session.commit()
    ids = dict((await session.execute(select(CannedResponse.title, CannedResponse.id))).all())
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    number = await session.scalar(select(Ticket.number).where(Ticket.id == ticket_id))
    # the text alone, plain: the browser inserts it at the cursor, so the draft never leaves the page
    response = await client.post(f"/console/tickets/{ticket_id}/canned", headers=htmx("canned-select", token),
                                 data={"canned_id": str(ids["Hello"])})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert response.text == f"Hi Ann, about #{number}. Bea Agent"
    evil = await client.post(f"/console/tickets/{ticket_id}/canned", headers=htmx("canned-select", token),
                             data={"canned_id": str(ids["Evil"])})
    assert evil.status_code == 400 and evil.headers["hx-retarget"] == "#canned-error"
    assert 'id="canned-error"' in evil.text and "does not render" in evil.text and "&lt;class" not in evil.text
    gone = await client.post(f"/console/tickets/{ticket_id}/canned", headers=htmx("canned-select", token),
                             data={"canned_id": "987654"})
    assert gone.status_code == 400 and "no longer exists" in gone.text


def test_canned_render_refuses_unknown_placeholders_and_python_internals():
    values = canned_responses.placeholder_values(customer_name="Ann Example", ticket_number=7, ticket_subject="S",
                                                 agent_name="Bea Agent")
    assert canned_responses.render("{{ customer.first_name }} #{{ ticket.number }}", values) == "Ann #7"
    with pytest.raises(canned_responses.CannedResponseError):
        canned_responses.render("{{ customer.password }}", values)
    with pytest.raises(canned_responses.CannedResponseError):
        canned_responses.render("{{ ''.__class__.__mro__[1].__subclasses__() }}", values)


async def test_properties_change_assignee_status_priority_tags(client, shop, session):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    response = await client.post(f"/console/tickets/{ticket_id}/properties", headers=htmx("ticket-properties", token),
                                 data={"assignee_id": "me", "team_id": str(shop.team_id), "status": "pending",
                                       "priority": "urgent", "tags": "Refund, vip"})
    assert response.status_code == 200 and "Saved · " in response.text
    # counts change out of band: the ticket left "unassigned" for "mine"
    assert '<nav id="queue-nav" class="queue-nav" aria-label="Queues" hx-swap-oob="true">' in response.text
    assert 'id="count-mine">1<' in response.text and 'id="count-unassigned">1<' in response.text
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    assert (ticket.assignee_id, ticket.team_id, ticket.status, ticket.priority) == (
        shop.agents["agent"], shop.team_id, "pending", "urgent")
    assert ticket.sla_paused_at is not None
    assert set(await session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id))) == {"refund", "vip"}
    bad = await client.post(f"/console/tickets/{ticket_id}/properties", headers=htmx("ticket-properties", token),
                            data={"tags": "no<script>"})
    assert 'id="properties-error"' in bad.text and "is not a tag" in bad.text


async def test_merge_moves_messages_and_points_at_the_survivor(session, shop):
    agent = await session.get(Agent, shop.agents["agent"])
    source, target = [await session.get(Ticket, i) for i in shop.ticket_ids]
    session.add(TicketTag(ticket_id=source.id, tag="moved"))
    await session.commit()
    survivor = await merge_tickets(session, source, target.number, agent=agent)
    assert survivor.id == target.id
    assert source.merged_into_id == target.id and source.status == "closed"
    assert {m.ticket_id for m in await session.scalars(select(Message))} == {target.id}
    assert "moved" in set(await session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == target.id)))
    with pytest.raises(TicketError):
        await merge_tickets(session, target, target.number, agent=agent)


async def test_merge_through_the_console_redirects_to_the_survivor(client, shop, session):
    token = await sign_in(client, "agent")
    source, target = shop.ticket_ids
    number = await session.scalar(select(Ticket.number).where(Ticket.id == target))
    response = await client.post(f"/console/tickets/{source}/merge", headers=htmx(None, token),
                                 data={"target": f"#{number}"})
    assert str(target) in response.headers["hx-location"]
    old = await client.get(f"/console/tickets/{source}", follow_redirects=False)
    assert old.status_code == 303 and old.headers["location"] == f"/console/tickets/{target}"
    bad = await client.post(f"/console/tickets/{target}/merge", headers=htmx(None, token), data={"target": "99999"})
    assert "there is no ticket #99999" in bad.text and bad.headers["hx-retarget"] == "#ticket-properties"


async def test_split_moves_one_message_into_a_new_ticket(session, settings, shop):
    agent = await session.get(Agent, shop.agents["agent"])
    ticket = await session.get(Ticket, shop.ticket_ids[0])
    follow_up = await ingest(session, inbound(sender="ann@example.com", subject="Re: Where is my order?",
                                              text="Also, a new question about invoices.", token=ticket.number),
                             settings=settings)
    assert follow_up.ticket_id == ticket.id
    new = await split_message(session, ticket, follow_up.message_id, agent=agent)
    assert new.id != ticket.id and new.number == new.id and new.customer_id == ticket.customer_id
    assert [m.id for m in await messages_of(session, new.id)] == [follow_up.message_id]
    assert len(await messages_of(session, ticket.id)) == 1
    with pytest.raises(TicketError):  # the last customer message stays
        await split_message(session, ticket, shop.message_ids[0], agent=agent)


def test_nh3_strips_script_and_event_handlers_and_collapses_quotes():
    html = sanitise('<p onclick="x()">Hi<img src="x" onerror="alert(1)"><script>alert(2)</script>'
                    '<a href="javascript:alert(3)">l</a><img src="cid:Logo@x"></p><blockquote>old</blockquote>',
                    inline_urls={"logo@x": "/console/attachments/9"})
    assert "script" not in html and "onerror" not in html and "onclick" not in html and "javascript:" not in html
    assert 'src="/console/attachments/9"' in html
    assert '<details class="quoted"><summary>Quoted text</summary><blockquote>old</blockquote></details>' in html


async def test_message_html_is_sanitised_on_the_page_and_inline_images_resolve(client, shop, session, settings):
    message = replace(inbound(sender="ann@example.com", subject="Photo"),
                      html='<p>See <img src="cid:photo1" alt="photo"><img src=x onerror="alert(1)"></p><script>alert(1)</script>',
                      attachments=[InAttachment("photo.png", "image/png", b"\x89PNG fake", content_id="<photo1>", inline=True),
                                   InAttachment("invoice.html", "text/html", b"<script>alert(1)</script>")])
    result = await ingest(session, message, settings=settings)
    await sign_in(client, "agent")
    page = await client.get(f"/console/tickets/{result.ticket_id}")
    assert "onerror" not in page.text and "alert(1)" not in page.text
    ids = dict((await session.execute(select(Message.id, Message.ticket_id).where(Message.id == result.message_id))).all())
    assert ids
    from helpdesk.models import Attachment

    attachments = {a.filename: a.id for a in await session.scalars(select(Attachment))}
    assert f'src="/console/attachments/{attachments["photo.png"]}"' in page.text
    assert f'href="/console/attachments/{attachments["invoice.html"]}"' in page.text
    image = await client.get(f"/console/attachments/{attachments['photo.png']}")
    assert image.status_code == 200 and image.content == b"\x89PNG fake" and image.headers["content-type"] == "image/png"
    html_file = await client.get(f"/console/attachments/{attachments['invoice.html']}")
    assert html_file.headers["content-type"] == "application/octet-stream"
    assert html_file.headers["content-disposition"].startswith("attachment")
    assert html_file.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/console/attachments/99999")).status_code == 404


async def test_attachment_download_needs_a_signed_in_agent(app, shop, session, settings):
    from litestar.testing import AsyncTestClient

    message = replace(inbound(sender="ann@example.com"), attachments=[InAttachment("a.txt", "text/plain", b"secret")])
    await ingest(session, message, settings=settings)
    from helpdesk.models import Attachment

    attachment_id = await session.scalar(select(Attachment.id))
    async with AsyncTestClient(app=app) as anonymous:
        response = await anonymous.get(f"/console/attachments/{attachment_id}", follow_redirects=False)
        assert response.status_code in (302, 303, 401) and b"secret" not in response.content


async def test_failed_delivery_shows_reason_and_retry_requeues(client, shop, session, queued):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                      data={"body": "Hello", "mode": "reply"}, files=NO_FILE)
    [reply] = await messages_of(session, ticket_id, "outbound")
    reply.delivery_status, reply.delivery_error = "failed", "550 mailbox unavailable"
    await session.commit()
    page = await client.get(f"/console/tickets/{ticket_id}/timeline", headers=htmx("conversation"))
    assert "550 mailbox unavailable" in page.text and 'name="retry"' in page.text
    retried = await client.post(f"/console/tickets/{ticket_id}/messages/{reply.id}/retry", headers=htmx(None, token))
    assert retried.status_code == 200 and 'data-delivery="queued"' in retried.text
    assert queued == [reply.id, reply.id]


async def test_ticket_page_issues_the_same_number_of_queries_for_small_and_large_tickets(app, client, shop, session, settings):
    """No N+1: 2 vs 30 messages and 1 vs 20 orders cost the same statements."""
    small = await ingest(session, inbound(sender="solo@example.com", name="Solo Buyer", subject="Small"), settings=settings)
    await ingest(session, inbound(sender="solo@example.com", subject="Re: Small", token=small.ticket_id), settings=settings)
    await add_orders(session, small.customer_id, 1)
    large = await ingest(session, inbound(sender="many@example.com", name="Many Orders", subject="Large"), settings=settings)
    for n in range(29):
        message = replace(inbound(sender="many@example.com", subject="Re: Large", token=large.ticket_id, text=f"message {n}"),
                          attachments=[InAttachment(f"f{n}.txt", "text/plain", f"file {n}".encode())] if n % 3 == 0 else [])
        await ingest(session, message, settings=settings)
    await add_orders(session, large.customer_id, 20)
    assert len(await messages_of(session, large.ticket_id)) == 30

    await sign_in(client, "agent")
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = app.state.engine.sync_engine
    counts = {}
    for name, ticket_id in (("small", small.ticket_id), ("large", large.ticket_id)):
        await client.get(f"/console/tickets/{ticket_id}")  # warm caches (SLA policies, sessions)
        event.listen(engine, "before_cursor_execute", count)
        statements.clear()
        try:
            response = await client.get(f"/console/tickets/{ticket_id}")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200
        counts[name] = len(statements)
    assert counts["small"] == counts["large"], counts
    assert counts["large"] <= 25, counts
