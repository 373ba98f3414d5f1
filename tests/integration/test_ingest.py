"""ingest(): dedupe, customers, threading, reopening, attachments — on SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from helpdesk.channel import Attachment, Identity
from helpdesk.files import blob_path
from helpdesk.inbound.ingest import UnsolicitedReport, ingest
from helpdesk.models import Attachment as AttachmentRow
from helpdesk.models import Customer, CustomerIdentity, Message, Organization, OrganizationDomain, Ticket, utcnow
from tests.factories import inbound


async def count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


async def test_same_message_twice_is_stored_once(session, settings):
    message = inbound(external_id="<once@example.com>")
    first = await ingest(session, message, settings=settings)
    second = await ingest(session, message, settings=settings)
    assert first.created_ticket and not first.duplicate
    assert second.duplicate and second.ticket_id == first.ticket_id and second.message_id == first.message_id
    assert await count(session, Message) == 1
    assert await count(session, Ticket) == 1


async def test_new_ticket_gets_human_number_subject_and_customer(session, settings):
    result = await ingest(session, inbound(subject="Broken zip", name="Ann Example"), settings=settings)
    ticket = await session.get(Ticket, result.ticket_id)
    customer = await session.get(Customer, result.customer_id)
    assert ticket.number == ticket.id and ticket.subject == "Broken zip" and ticket.status == "new"
    assert ticket.channel == "email" and customer.name == "Ann Example"


async def test_email_identity_is_case_and_whitespace_insensitive(session, settings):
    a = await ingest(session, inbound(sender="Ann@Example.COM"), settings=settings)
    b = await ingest(session, inbound(sender="  ann@example.com "), settings=settings)
    assert a.customer_id == b.customer_id
    assert await count(session, CustomerIdentity) == 1
    assert await session.scalar(select(CustomerIdentity.value)) == "ann@example.com"


async def test_phone_formats_resolve_to_one_whatsapp_customer(session, settings):
    results = [
        await ingest(session, inbound(channel="whatsapp", sender=number, subject=None, thread=number), settings=settings)
        for number in ("+49 151 2345 6789", "4915123456789", "0049-151-23456789")
    ]
    assert len({r.customer_id for r in results}) == 1
    assert await session.scalar(select(CustomerIdentity.value)) == "+4915123456789"


async def test_reply_threads_by_in_reply_to(session, settings):
    first = await ingest(session, inbound(external_id="<a1@example.com>"), settings=settings)
    reply = await ingest(session, inbound(subject="Re: anything", in_reply_to="<a1@example.com>"), settings=settings)
    assert reply.ticket_id == first.ticket_id and not reply.created_ticket


async def test_reply_threads_by_references_even_from_a_colleague(session, settings):
    first = await ingest(session, inbound(external_id="<r1@example.com>"), settings=settings)
    reply = await ingest(
        session,
        inbound(sender="bob@elsewhere.test", subject="Fwd", references=("<unknown@x>", "<r1@example.com>")),
        settings=settings,
    )
    assert reply.ticket_id == first.ticket_id


async def test_platform_thread_id_threads_chat_and_social(session, settings):
    first = await ingest(session, inbound(channel="telegram", sender="12345", subject=None, thread="chat-12345"), settings=settings)
    second = await ingest(session, inbound(channel="telegram", sender="12345", subject=None, thread="chat-12345"), settings=settings)
    other = await ingest(session, inbound(channel="telegram", sender="999", subject=None, thread="chat-999"), settings=settings)
    assert second.ticket_id == first.ticket_id and other.ticket_id != first.ticket_id
    ticket = await session.get(Ticket, first.ticket_id)
    assert ticket.subject == "Hello, my parcel has not arrived."


async def test_subject_token_threads_for_the_customer(session, settings):
    first = await ingest(session, inbound(), settings=settings)
    ticket = await session.get(Ticket, first.ticket_id)
    reply = await ingest(session, inbound(subject=f"Re: [#{ticket.number}] Where is my order?", token=ticket.number),
                         settings=settings)
    assert reply.ticket_id == first.ticket_id


async def test_stranger_quoting_ticket_token_gets_new_ticket(session, settings):
    first = await ingest(session, inbound(), settings=settings)
    ticket = await session.get(Ticket, first.ticket_id)
    stranger = await ingest(
        session, inbound(sender="mallory@evil.test", subject=f"[#{ticket.number}]", token=ticket.number),
        settings=settings,
    )
    assert stranger.created_ticket and stranger.ticket_id != first.ticket_id


async def test_cc_participant_may_reply_by_token(session, settings):
    first = await ingest(session, inbound(cc=(Identity("email", "Carl@Example.org", "Carl"),)), settings=settings)
    ticket = await session.get(Ticket, first.ticket_id)
    carl = await ingest(session, inbound(sender="carl@example.org", token=ticket.number), settings=settings)
    assert carl.ticket_id == first.ticket_id


async def test_colleague_from_same_organization_may_reply_by_token(session, settings):
    org = Organization(name="Example Corp", domains=[OrganizationDomain(domain="corp.test")])
    session.add(org)
    await session.commit()
    first = await ingest(session, inbound(sender="ann@corp.test"), settings=settings)
    ticket = await session.get(Ticket, first.ticket_id)
    assert ticket.organization_id == org.id
    colleague = await ingest(session, inbound(sender="dave@corp.test", token=ticket.number), settings=settings)
    assert colleague.ticket_id == first.ticket_id


async def test_reply_within_window_reopens_solved_ticket(session, settings):
    first = await ingest(session, inbound(external_id="<w1@x>"), settings=settings)
    ticket = await session.get(Ticket, first.ticket_id)
    ticket.status, ticket.solved_at = "solved", utcnow() - timedelta(days=2)
    await session.commit()
    reply = await ingest(session, inbound(in_reply_to="<w1@x>"), settings=settings)
    await session.refresh(ticket)
    assert reply.ticket_id == ticket.id and reply.reopened and ticket.status == "open"


async def test_reply_after_window_opens_new_ticket(session, settings):
    first = await ingest(session, inbound(external_id="<w2@x>"), settings=settings)
    ticket = await session.get(Ticket, first.ticket_id)
    ticket.status, ticket.solved_at = "solved", utcnow() - timedelta(days=settings.reopen_window_days + 1)
    await session.commit()
    reply = await ingest(session, inbound(in_reply_to="<w2@x>"), settings=settings)
    await session.refresh(ticket)
    assert reply.created_ticket and reply.ticket_id != ticket.id and ticket.status == "solved"


async def test_auto_reply_never_reopens(session, settings):
    first = await ingest(session, inbound(external_id="<w3@x>"), settings=settings)
    ticket = await session.get(Ticket, first.ticket_id)
    ticket.status, ticket.solved_at = "solved", utcnow()
    await session.commit()
    auto = await ingest(session, inbound(in_reply_to="<w3@x>", auto_generated=True, subject="Out of office"),
                        settings=settings)
    await session.refresh(ticket)
    assert auto.ticket_id == ticket.id and not auto.reopened and ticket.status == "solved"


async def test_customer_reply_moves_pending_ticket_back_to_open(session, settings):
    first = await ingest(session, inbound(external_id="<p1@x>"), settings=settings)
    ticket = await session.get(Ticket, first.ticket_id)
    ticket.status = "pending"
    await session.commit()
    await ingest(session, inbound(in_reply_to="<p1@x>"), settings=settings)
    await session.refresh(ticket)
    assert ticket.status == "open"


async def test_same_attachment_twice_is_stored_once_on_disk(session, settings):
    data = b"%PDF-1.4 invoice" * 1000
    pdf = Attachment("invoice.pdf", "application/pdf", data)
    await ingest(session, inbound(attachments=[pdf]), settings=settings)
    await ingest(session, inbound(attachments=[Attachment("copy.pdf", "application/pdf", data)]), settings=settings)
    rows = list(await session.scalars(select(AttachmentRow).order_by(AttachmentRow.id)))
    assert [r.filename for r in rows] == ["invoice.pdf", "copy.pdf"]
    assert rows[0].sha256 == rows[1].sha256 and rows[0].size == len(data)
    assert blob_path(settings.attachments_dir, rows[0].sha256).read_bytes() == data
    files = [p for p in settings.attachments_dir.rglob("*") if p.is_file()]
    assert len(files) == 1


async def our_reply(session, ticket_id: int, external_id: str) -> Message:
    """An agent's reply as the outbox leaves it once sent."""
    ours = Message(ticket_id=ticket_id, direction="outbound", channel="email", external_id=external_id,
                   text="Your parcel is on its way", delivery_status="sent")
    session.add(ours)
    await session.commit()
    return ours


@pytest.mark.parametrize("read_as", [None, "bounce"])  # with or without the parser's machine_reply
async def test_bounce_marks_our_reply_failed_and_opens_no_ticket(session, settings, read_as):
    first = await ingest(session, inbound(), settings=settings)
    ours = await our_reply(session, first.ticket_id, "<ours@support>")
    report = inbound(sender="mailer-daemon@mx.test", subject="Undelivered Mail", auto_generated=True,
                     bounce_of="<ours@support>")
    bounce = await ingest(session, replace(report, machine_reply=read_as), settings=settings)
    await session.refresh(ours)
    assert bounce.bounce and not bounce.created_ticket and bounce.ticket_id == first.ticket_id
    assert ours.delivery_status == "failed" and "user unknown" in ours.delivery_error
    assert await count(session, Ticket) == 1 and await count(session, Customer) == 1


async def test_ingest_many_is_one_transaction_that_sees_its_own_messages(session, settings):
    """A batch threads a reply to a ticket opened earlier in the same batch, dedupes within it,
    and publishes live events only once everything is committed."""
    from helpdesk import live
    from helpdesk.inbound.ingest import ingest_many

    published: list[tuple[str, dict]] = []
    still_open: list[bool] = []

    def publisher(channel: str, event: dict) -> None:
        published.append((channel, event))
        still_open.append(session.in_transaction())  # an event must not announce uncommitted rows

    first = inbound(external_id="<batch-1@example.com>")
    reply = inbound(external_id="<batch-2@example.com>", in_reply_to="<batch-1@example.com>", subject="Re: order")
    other = inbound(sender="bob@example.com", name="Bob", external_id="<batch-3@example.com>")
    live.add_publisher(publisher)
    try:
        results = await ingest_many(session, [first, reply, first, other], settings=settings)
    finally:
        live.remove_publisher(publisher)
    opened, threaded, again, bob = results
    assert opened.created_ticket and not threaded.created_ticket and threaded.ticket_id == opened.ticket_id
    assert again.duplicate and again.message_id == opened.message_id
    assert bob.created_ticket and bob.customer_id != opened.customer_id
    assert await count(session, Ticket) == 2 and await count(session, Message) == 3
    assert still_open and not any(still_open)
    assert {e["event"] for _, e in published} == {"message.created", "ticket.created", "ticket.updated"}
    assert sum(1 for _, e in published if e["event"] == "message.created") == 3


async def test_ingest_many_keeps_the_good_messages_when_one_fails(session, settings):
    """One bad message costs only itself: the batch is retried one by one and its error is returned in its place."""
    from helpdesk.customers.identities import InvalidIdentity
    from helpdesk.inbound.ingest import ingest_many

    good = inbound(external_id="<good-1@example.com>")
    bad = inbound(channel="whatsapp", sender="not a phone number", external_id="wa-bad")
    later = inbound(external_id="<good-2@example.com>", in_reply_to="<good-1@example.com>")
    results = await ingest_many(session, [good, bad, later], settings=settings)
    assert isinstance(results[1], InvalidIdentity)
    assert results[0].created_ticket and results[2].ticket_id == results[0].ticket_id
    assert await count(session, Message) == 2 and await count(session, Ticket) == 1


async def test_a_nameless_customer_takes_the_name_a_later_message_gives(session, settings):
    first = await ingest(session, inbound(sender="quiet@example.com", name=None), settings=settings)
    customer = await session.get(Customer, first.customer_id)
    assert customer.name is None
    await ingest(session, inbound(sender="quiet@example.com", name="Quentin Quixote"), settings=settings)
    await session.refresh(customer)
    assert customer.name == "Quentin Quixote"


async def test_a_batch_sees_the_customers_it_creates_and_names_as_one_by_one_would(session, settings):
    """ingest_many looks senders up once for the batch; what the batch itself creates or renames
    must still be seen by its later messages (one customer, the first name given sticks)."""
    from helpdesk.inbound.ingest import ingest_many

    batch = [inbound(sender="new@example.com", name=None), inbound(sender="NEW@example.com ", name="First Name"),
             inbound(sender="new@example.com", name="Second Name")]
    results = await ingest_many(session, batch, settings=settings)
    assert len({r.customer_id for r in results}) == 1 and await count(session, Customer) == 1
    assert (await session.get(Customer, results[0].customer_id)).name == "First Name"
    again = await ingest_many(session, [batch[1], inbound(sender="new@example.com")], settings=settings)
    assert again[0].duplicate and again[0].message_id == results[1].message_id
    assert again[1].customer_id == results[0].customer_id


async def test_a_young_postgres_database_gets_planner_statistics_as_it_grows(session, settings, monkeypatch):
    """PostgreSQL: ingest runs ANALYZE when the messages table has doubled (autovacuum is too slow
    for a first import); SQLite has nothing to do."""
    from sqlalchemy import text

    from helpdesk.inbound import planner_stats
    from helpdesk.inbound.ingest import ingest_many

    monkeypatch.setattr(planner_stats, "MIN_GROWTH", 3)
    monkeypatch.setattr(planner_stats, "_growth", {})
    postgres = session.bind.dialect.name == "postgresql"

    async def analyzed() -> int:
        if not postgres:
            return 0
        return await session.scalar(text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'messages'"))

    before = await analyzed()
    await ingest_many(session, [inbound() for _ in range(2)], settings=settings)
    assert await analyzed() == before  # 2 new messages: not yet
    await ingest_many(session, [inbound() for _ in range(2)], settings=settings)
    if postgres:
        assert await analyzed() == before + 1
        assert await session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'messages'")) >= 4
    else:
        assert planner_stats._growth == {}


def machine_reply(kind: str, **fields):
    """A machine's answer (bounce, auto-reply, receipt) as the email parser reads it."""
    return replace(inbound(auto_generated=True, **fields), machine_reply=kind)


async def test_delivery_report_about_a_message_we_never_sent_opens_nothing(session, settings):
    report = machine_reply("bounce", sender="MAILER-DAEMON@mx.test", name="Mail Delivery System",
                           subject="Undelivered Mail Returned to Sender", bounce_of="<never-ours@elsewhere.test>")
    with pytest.raises(UnsolicitedReport, match=r"delivery report about a message we never sent "
                                                r"\(<never-ours@elsewhere.test>\) from MAILER-DAEMON@mx.test"):
        await ingest(session, report, settings=settings)
    await session.rollback()
    assert await count(session, Ticket) == 0 and await count(session, Message) == 0
    assert await count(session, Customer) == 0 and await count(session, CustomerIdentity) == 0


async def test_delivery_report_without_an_original_id_is_unsolicited_too(session, settings):
    report = machine_reply("bounce", sender="mailer-daemon@mx.test", subject="failure notice")
    with pytest.raises(UnsolicitedReport, match="no reference"):
        await ingest(session, report, settings=settings)


async def test_out_of_office_reply_to_nothing_of_ours_opens_nothing(session, settings):
    auto = machine_reply("auto-reply", sender="away@example.com", subject="Out of office",
                         in_reply_to="<spam-we-never-sent@forged.test>")
    with pytest.raises(UnsolicitedReport, match=r"automatic reply to a message we never sent "
                                                r"\(<spam-we-never-sent@forged.test>\) from away@example.com"):
        await ingest(session, auto, settings=settings)
    await session.rollback()
    assert await count(session, Ticket) == 0 and await count(session, Customer) == 0


async def test_a_batch_hands_back_the_unsolicited_report_in_its_place(session, settings):
    from helpdesk.inbound.ingest import ingest_many

    good = inbound(external_id="<fine@example.com>")
    receipt = machine_reply("receipt", sender="reader@example.org", subject="Read: hello", in_reply_to="<nope@x>")
    results = await ingest_many(session, [good, receipt], settings=settings)
    assert results[0].created_ticket and isinstance(results[1], UnsolicitedReport)
    assert await count(session, Ticket) == 1 and await count(session, Customer) == 1


async def test_out_of_office_reply_to_our_reply_joins_its_ticket_without_clocks_or_reopening(session, settings):
    first = await ingest(session, inbound(), settings=settings)
    await our_reply(session, first.ticket_id, "<our-answer@support>")
    ticket = await session.get(Ticket, first.ticket_id)
    ticket.status, ticket.solved_at = "solved", utcnow()
    await session.commit()
    before = (ticket.last_inbound_at, ticket.next_response_due_at, ticket.resolution_due_at)
    # the parser may leave auto_generated unset: a machine reply is auto-generated all the same
    auto = replace(machine_reply("auto-reply", subject="Automatic reply: Re: Where is my order?",
                                 in_reply_to="<our-answer@support>"), auto_generated=False)
    joined = await ingest(session, auto, settings=settings)
    await session.refresh(ticket)
    assert joined.ticket_id == ticket.id and not joined.created_ticket and not joined.reopened
    assert ticket.status == "solved" and (ticket.last_inbound_at, ticket.next_response_due_at,
                                          ticket.resolution_due_at) == before
    stored = await session.get(Message, joined.message_id)
    assert stored.auto_generated and await count(session, Ticket) == 1
