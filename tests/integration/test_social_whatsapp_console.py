"""The reply box of a WhatsApp ticket: the 24-hour window's state, the picker of the account's approved
templates (listed from the platform simulator), a template sent through the outbox, and the errors an
agent reads (window closed, templates not listable, a delivery the platform refused)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from channels.social import whatsapp
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Message, Ticket
from helpdesk.social import templates
from helpdesk.tickets import outbox
from tests.integration.test_social_whatsapp import account, customer_message, platform, queued  # noqa: F401
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401

NO_FILE = {"attachments": ("", b"", "application/octet-stream")}


@pytest.fixture(autouse=True)
def installed(settings):
    whatsapp.install(settings)  # the template lister and the sender
    templates.forget_cached_templates()
    yield
    templates.forget_cached_templates()


async def whatsapp_ticket(session, settings, *, hours_ago: float) -> int:
    [message] = whatsapp.parse(customer_message(hours_ago=hours_ago), account=None, raw_ref="raw")
    return (await ingest(session, message, settings=settings)).ticket_id


async def test_closed_window_says_so_and_offers_the_approved_templates(client, session, settings, account):
    ticket_id = await whatsapp_ticket(session, settings, hours_ago=30)
    await sign_in(client, "agent")
    page = await client.get(f"/console/tickets/{ticket_id}")
    assert "The 24-hour window closed" in page.text and "6 h ago" in page.text
    assert "WhatsApp only delivers approved templates now" in page.text
    assert 'hx-get="/console/tickets/%d/templates"' % ticket_id in page.text and 'hx-trigger="load"' in page.text

    picker = await client.get(f"/console/tickets/{ticket_id}/templates", headers=htmx("template-picker"))
    assert picker.status_code == 200 and "<html" not in picker.text
    assert "order_update (en_US)" in picker.text and "hello_world (en_US)" in picker.text
    assert "spring_sale" not in picker.text  # still in review: not offered

    chosen = await client.get(f"/console/tickets/{ticket_id}/templates", params={"template": "order_update:en_US"})
    assert 'name="template_params"' in chosen.text and "news about your order {{1}}" in chosen.text
    filled = await client.get(f"/console/tickets/{ticket_id}/templates",
                              params={"template": "order_update:en_US", "template_params": "#5001"})
    assert "news about your order #5001. Reply" in filled.text and 'id="send-template"' in filled.text


async def test_a_free_form_reply_outside_the_window_is_refused_in_the_reply_box(
        client, session, settings, account, queued):
    ticket_id = await whatsapp_ticket(session, settings, hours_ago=30)
    token = await sign_in(client, "agent")
    response = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                                 data={"body": "Any news?", "mode": "reply"}, files=NO_FILE)
    assert response.headers["hx-retarget"] == "#reply-box"
    assert "WhatsApp&#39;s 24-hour window closed at" in response.text and "send an approved template" in response.text
    assert queued == [] and await session.scalar(select(Message).where(Message.direction == "outbound")) is None


async def test_sending_a_template_queues_the_rendered_text_and_delivers_the_template(
        client, session, settings, account, queued, platform):
    ticket_id = await whatsapp_ticket(session, settings, hours_ago=30)
    token = await sign_in(client, "agent")
    response = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                                 data={"body": "", "mode": "reply", "send_template": "1",
                                       "template": "order_update:en_US", "template_params": "#5001"}, files=NO_FILE)
    assert response.status_code == 200, response.text
    [reply] = await session.scalars(select(Message).where(Message.direction == "outbound"))
    assert reply.text.startswith("Hello, here is news about your order #5001.")
    assert reply.template == {"name": "order_update", "language": "en_US", "parameters": ["#5001"]}
    assert queued == [reply.id] and reply.text in response.text
    assert await outbox.deliver(session, reply.id, settings=settings) == "sent"
    [sent] = platform[1].sent("/messages")
    assert sent.json["template"]["name"] == "order_update"


async def test_a_template_can_be_sent_inside_the_window_too(client, session, settings, account, queued):
    ticket_id = await whatsapp_ticket(session, settings, hours_ago=1)
    token = await sign_in(client, "agent")
    page = await client.get(f"/console/tickets/{ticket_id}")
    assert "WhatsApp delivers free-form replies until" in page.text and "window closed" not in page.text
    assert "toggle once from:closest details" in page.text  # listed when the agent opens the picker
    response = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                                 data={"body": "", "mode": "reply", "send_template": "1",
                                       "template": "hello_world:en_US"}, files=NO_FILE)
    assert response.status_code == 200
    [reply] = await session.scalars(select(Message).where(Message.direction == "outbound"))
    assert reply.template == {"name": "hello_world", "language": "en_US", "parameters": []}


async def test_a_template_with_a_parameter_left_empty_is_refused(client, session, settings, account, queued):
    ticket_id = await whatsapp_ticket(session, settings, hours_ago=30)
    token = await sign_in(client, "agent")
    response = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                                 data={"body": "", "mode": "reply", "send_template": "1",
                                       "template": "order_update:en_US", "template_params": " "}, files=NO_FILE)
    assert response.headers["hx-retarget"] == "#reply-box" and "fill in parameter {{1}} of order_update" in response.text
    assert queued == []


async def test_templates_that_cannot_be_listed_show_the_platforms_error_inline(
        client, session, settings, account, platform):
    ticket_id = await whatsapp_ticket(session, settings, hours_ago=30)
    platform[1].fail_next(403, {"error": {"message": "(#200) Requires whatsapp_business_management permission",
                                          "type": "OAuthException", "code": 200}}, path="/message_templates")
    await sign_in(client, "agent")
    picker = await client.get(f"/console/tickets/{ticket_id}/templates")
    assert picker.status_code == 200 and 'id="template-error"' in picker.text
    assert "Requires whatsapp_business_management permission (HTTP 403, code 200)" in picker.text


async def test_a_failed_whatsapp_reply_reads_well_in_the_conversation(client, session, settings, account, queued):
    ticket_id = await whatsapp_ticket(session, settings, hours_ago=30)
    ticket = await session.get(Ticket, ticket_id)
    message = await outbox.queue_reply(session, ticket, settings=settings, text="Any news?")
    assert await outbox.deliver(session, message.id, settings=settings) == "failed"
    await sign_in(client, "agent")
    page = await client.get(f"/console/tickets/{ticket_id}")
    assert "Not delivered: WhatsApp&#39;s 24-hour window closed at " in page.text
    assert "UTC: send an approved template instead" in page.text

