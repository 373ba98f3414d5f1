"""Auto-acknowledgement through the receive path, and its loop protection (RFC 3834)."""
from __future__ import annotations

import email
from email import policy

from sqlalchemy import func, select

from helpdesk.inbound.acknowledge import may_acknowledge
from channels.email.receive import receive_raw
from helpdesk.tickets import outbox
from helpdesk.models import Message, Ticket, TicketParticipant
from tests.factories import inbound
from tests.integration.conftest import add_mailbox
from tests.support.mail import customer_mail


async def acks(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "outbound", Message.auto_generated.is_(True)))


async def support_mailbox(sessions, smtp_sink, *, auto_ack=True):
    await add_mailbox(sessions, address="support@shop.test", imap_host="imap.invalid", auto_ack=auto_ack,
                      smtp_host=smtp_sink.host, smtp_port=smtp_sink.port, smtp_security="none")


async def test_new_ticket_is_acknowledged_without_stopping_the_sla_clock(sessions, settings, smtp_sink, smtp_sender):
    await support_mailbox(sessions, smtp_sink)
    outcome = await receive_raw(sessions, customer_mail(), settings=settings, account="support@shop.test")
    assert outcome.acknowledged
    async with sessions() as session:
        ticket = await session.get(Ticket, outcome.result.ticket_id)
        assert ticket.status == "new" and ticket.first_responded_at is None and ticket.last_outbound_at is None
        ack = await session.scalar(select(Message).where(Message.direction == "outbound"))
        assert ack.auto_generated and f"#{ticket.number}" in ack.text
        assert await outbox.deliver(session, ack.id, settings=settings) == "sent"
    sent = email.message_from_bytes(smtp_sink.messages[0].original_content, policy=policy.default)
    assert sent["Auto-Submitted"] == "auto-replied"


async def test_reply_to_existing_ticket_is_not_acknowledged(sessions, settings, smtp_sink, smtp_sender):
    await support_mailbox(sessions, smtp_sink)
    await receive_raw(sessions, customer_mail(message_id="<t1@example.com>"), settings=settings,
                      account="support@shop.test")
    outcome = await receive_raw(sessions, customer_mail(in_reply_to="<t1@example.com>"), settings=settings,
                                account="support@shop.test")
    assert not outcome.result.created_ticket and not outcome.acknowledged
    assert await acks(sessions) == 1


async def test_auto_generated_mail_gets_no_acknowledgement(sessions, settings, smtp_sink, smtp_sender):
    await support_mailbox(sessions, smtp_sink)
    outcome = await receive_raw(sessions, customer_mail(headers={"Auto-Submitted": "auto-generated"},
                                                        subject="Your weekly digest"),
                                settings=settings, account="support@shop.test")
    assert outcome.status == "ingested" and not outcome.acknowledged
    assert await acks(sessions) == 0


async def test_out_of_office_reply_to_nothing_of_ours_is_quarantined_unanswered(sessions, settings, smtp_sink,
                                                                                smtp_sender):
    await support_mailbox(sessions, smtp_sink)
    outcome = await receive_raw(sessions, customer_mail(headers={"Auto-Submitted": "auto-replied"},
                                                        subject="Out of office"),
                                settings=settings, account="support@shop.test")
    assert outcome.status == "quarantined" and not outcome.acknowledged
    assert await acks(sessions) == 0


async def test_mail_from_our_own_address_gets_no_acknowledgement(sessions, settings, smtp_sink, smtp_sender):
    await support_mailbox(sessions, smtp_sink)
    await add_mailbox(sessions, address="sales@shop.test", imap_host="imap.invalid")
    outcome = await receive_raw(sessions, customer_mail(sender="Sales@Shop.test"), settings=settings,
                                account="support@shop.test")
    assert outcome.result.created_ticket and not outcome.acknowledged


async def test_acknowledgements_per_sender_stop_at_the_hourly_limit(sessions, settings, smtp_sink, smtp_sender):
    await support_mailbox(sessions, smtp_sink)
    outcomes = [await receive_raw(sessions, customer_mail(subject=f"Question {n}"), settings=settings,
                                  account="support@shop.test") for n in range(settings.auto_ack_limit_per_hour + 2)]
    assert [o.acknowledged for o in outcomes].count(True) == settings.auto_ack_limit_per_hour
    other = await receive_raw(sessions, customer_mail(sender="bob@example.com"), settings=settings,
                              account="support@shop.test")
    assert other.acknowledged


async def test_mailbox_without_auto_ack_sends_nothing(sessions, settings, smtp_sink, smtp_sender):
    await support_mailbox(sessions, smtp_sink, auto_ack=False)
    outcome = await receive_raw(sessions, customer_mail(), settings=settings, account="support@shop.test")
    assert outcome.result.created_ticket and not outcome.acknowledged and smtp_sender == []


async def test_our_own_addresses_are_never_recorded_as_participants(sessions, settings, smtp_sink):
    await support_mailbox(sessions, smtp_sink, auto_ack=False)
    await add_mailbox(sessions, address="sales@shop.test", imap_host="imap.invalid")
    raw = customer_mail(to="Support <support@shop.test>, sales@shop.test", headers={"Cc": "Carl <carl@example.org>"})
    outcome = await receive_raw(sessions, raw, settings=settings, account="support@shop.test")
    async with sessions() as session:
        values = set(await session.scalars(select(TicketParticipant.value).where(
            TicketParticipant.ticket_id == outcome.result.ticket_id)))
    assert values == {"carl@example.org"}


def test_loop_protection_rule():
    own = frozenset({"support@shop.test"})
    assert may_acknowledge(inbound(), own=own, recent=0, limit=3)
    assert not may_acknowledge(inbound(auto_generated=True), own=own, recent=0, limit=3)
    assert not may_acknowledge(inbound(sender="support@shop.test"), own=own, recent=0, limit=3)
    assert not may_acknowledge(inbound(), own=own, recent=3, limit=3)
