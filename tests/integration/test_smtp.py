"""SmtpSender through the outbox against a real SMTP server (aiosmtpd): retry policy and message shape."""
from __future__ import annotations

import email
from datetime import timedelta
from email import policy

from sqlalchemy import select

from helpdesk.channel import Attachment, Identity
from helpdesk.tickets import outbox
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Message, Ticket, utcnow
from tests.conftest import free_port
from tests.factories import inbound
from tests.integration.conftest import add_mailbox


async def ticket_with_mailbox(session, sessions, settings, smtp_sink, **mailbox):
    await add_mailbox(sessions, address="support@shop.test", name="Shop Support", imap_host="imap.invalid",
                      smtp_host=smtp_sink.host, smtp_port=smtp_sink.port, smtp_security="none", **mailbox)
    result = await ingest(session, inbound(external_id="<q1@example.com>", subject="Broken zip",
                                           cc=(Identity("email", "carl@example.org", "Carl"),)), settings=settings)
    return await session.get(Ticket, result.ticket_id)


async def test_smtp_4xx_is_retried_later_then_sent_once(session, sessions, settings, smtp_sink, smtp_sender):
    ticket = await ticket_with_mailbox(session, sessions, settings, smtp_sink)
    reply = await outbox.queue_reply(session, ticket, settings=settings, text="On its way.")
    smtp_sink.reject("451 4.3.0 Mailbox busy, try again later")

    assert await outbox.deliver(session, reply.id, settings=settings) == "queued"
    row = await session.get(Message, reply.id, populate_existing=True)
    assert "451" in row.delivery_error and row.next_attempt_at > utcnow()

    row.next_attempt_at = utcnow() - timedelta(seconds=1)  # the back-off has passed
    await session.commit()
    assert await outbox.deliver(session, reply.id, settings=settings) == "sent"
    assert await outbox.deliver(session, reply.id, settings=settings) == "sent"
    assert len(smtp_sink.messages) == 1


async def test_smtp_5xx_marks_the_reply_failed(session, sessions, settings, smtp_sink, smtp_sender):
    ticket = await ticket_with_mailbox(session, sessions, settings, smtp_sink)
    reply = await outbox.queue_reply(session, ticket, settings=settings, text="On its way.")
    smtp_sink.reject("554 5.7.1 Message rejected as spam")
    assert await outbox.deliver(session, reply.id, settings=settings) == "failed"
    row = await session.get(Message, reply.id, populate_existing=True)
    assert "554" in row.delivery_error and smtp_sink.messages == []


async def test_unreachable_smtp_server_is_retried(session, sessions, settings, smtp_sink, smtp_sender):
    ticket = await ticket_with_mailbox(session, sessions, settings, smtp_sink)
    from helpdesk.models import Mailbox

    mailbox = await session.scalar(select(Mailbox))
    mailbox.smtp_port = free_port()  # nobody listens there
    await session.commit()
    reply = await outbox.queue_reply(session, ticket, settings=settings, text="On its way.")
    assert await outbox.deliver(session, reply.id, settings=settings) == "queued"


async def test_reply_carries_cc_attachments_and_one_ticket_token(session, sessions, settings, smtp_sink, smtp_sender):
    ticket = await ticket_with_mailbox(session, sessions, settings, smtp_sink)
    ticket.subject = f"Re: [#{ticket.number}] Broken zip"
    await session.commit()
    reply = await outbox.queue_reply(session, ticket, settings=settings, text="Invoice <attached> & fixed.",
                                     attachments=[Attachment("invoice.pdf", "application/pdf", b"%PDF-1.4 x")])
    assert await outbox.deliver(session, reply.id, settings=settings) == "sent"
    envelope = smtp_sink.messages[0]
    sent = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert sorted(envelope.rcpt_tos) == ["ann@example.com", "carl@example.org"]
    assert sent["Cc"].addresses[0].addr_spec == "carl@example.org"
    assert sent["Subject"] == f"Re: [#{ticket.number}] Broken zip"
    assert sent["From"].addresses[0].display_name == "Shop Support"
    assert "Auto-Submitted" not in sent
    assert "Invoice &lt;attached&gt; &amp; fixed." in sent.get_body(("html",)).get_content()
    [attachment] = list(sent.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf" and attachment.get_content() == b"%PDF-1.4 x"
