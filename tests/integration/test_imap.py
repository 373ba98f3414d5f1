"""IMAP ingest against a real Dovecot, replies through a real SMTP server — SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import email
import select
import socket
import threading
import time
from email import policy

import pytest
from sqlalchemy import func, select as sql_select

from channels.email import imap
from helpdesk.inbound import pipeline
from channels.email.imap import IdleSupervisor, MailboxReader
from helpdesk.tickets import outbox
from helpdesk.files import blob_path
from helpdesk.models import Agent, Mailbox, Message, QuarantinedMessage, Ticket
from tests.support.mail import bounce_of, customer_mail, poison_ingest


async def count(sessions, model, *where) -> int:
    async with sessions() as session:
        return await session.scalar(sql_select(func.count()).select_from(model).where(*where))


async def poll(sessions, mailbox, settings):
    reader = MailboxReader(sessions, mailbox.id, settings=settings)
    try:
        return await reader.poll()
    finally:
        await reader.close()


async def test_customer_mail_agent_reply_and_customer_answer_thread_into_one_ticket(
    sessions, settings, dovecot, smtp_sink, mailbox, smtp_sender
):
    dovecot.append(customer_mail(message_id="<first@example.com>", subject="Where is my order?"))
    report = await poll(sessions, mailbox, settings)
    assert (report.ingested, report.tickets_created) == (1, 1)

    async with sessions() as session:
        ticket = await session.scalar(sql_select(Ticket))
        agent = Agent(email="bo@shop.test", name="Bo Agent", password_hash="x")
        session.add(agent)
        await session.commit()
        reply = await outbox.queue_reply(session, ticket, settings=settings, agent=agent,
                                         text="Hi Ann,\n\nit ships today.\n\nBo")
        assert smtp_sender == [reply.id]
        assert await outbox.deliver(session, reply.id, settings=settings) == "sent"

    assert len(smtp_sink.messages) == 1
    envelope = smtp_sink.messages[0]
    sent = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert envelope.rcpt_tos == ["ann@example.com"] and envelope.mail_from == "support@shop.test"
    assert sent["Message-ID"] == reply.external_id and reply.external_id.endswith("@support.example.test>")
    assert sent["In-Reply-To"] == "<first@example.com>"
    assert "<first@example.com>" in sent["References"]
    assert sent["Subject"] == f"Re: [#{ticket.number}] Where is my order?"
    assert sent["From"].addresses[0].display_name == "Bo Agent"
    assert sent["From"].addresses[0].addr_spec == "support@shop.test"
    assert sent.get_content_type() == "multipart/alternative"
    assert "it ships today." in sent.get_body(("plain",)).get_content()
    assert "<p" in sent.get_body(("html",)).get_content()

    dovecot.append(customer_mail(subject=str(sent["Subject"]).replace("Re: ", "Re: Re: ", 1),
                                 in_reply_to=sent["Message-ID"], references=f"<first@example.com> {sent['Message-ID']}",
                                 body="Thanks, it arrived!"))
    report = await poll(sessions, mailbox, settings)
    assert (report.ingested, report.tickets_created) == (1, 0)
    assert await count(sessions, Ticket) == 1
    assert await count(sessions, Message, Message.ticket_id == ticket.id) == 3


async def test_idle_turns_new_mail_into_a_ticket_within_two_seconds(sessions, settings, dovecot, mailbox):
    supervisor = IdleSupervisor(settings, refresh_seconds=0.2)
    supervisor.start()
    try:
        for _ in range(100):  # the listener's first poll records UIDVALIDITY, then it IDLEs
            async with sessions() as session:
                if (await session.get(Mailbox, mailbox.id, populate_existing=True)).uidvalidity:
                    break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        dovecot.append(customer_mail(subject="Pushed by IDLE"))
        while await count(sessions, Ticket) == 0:
            assert time.monotonic() - started < 2, "no ticket 2 s after the mail arrived"
            await asyncio.sleep(0.05)
    finally:
        supervisor.stop()


async def test_crash_between_commit_and_uid_bookkeeping_neither_loses_nor_doubles(
    sessions, settings, dovecot, mailbox, monkeypatch
):
    await poll(sessions, mailbox, settings)  # first contact: the bookmark is set
    dovecot.append(*(customer_mail(subject=f"Order {n}") for n in range(3)))

    async def killed(*args):
        raise RuntimeError("poller killed after commit, before saving the last UID")

    save = imap._save_progress
    monkeypatch.setattr(imap, "_save_progress", killed)
    with pytest.raises(RuntimeError):
        await poll(sessions, mailbox, settings)
    assert await count(sessions, Message) == 3

    monkeypatch.setattr(imap, "_save_progress", save)
    report = await poll(sessions, mailbox, settings)
    assert (report.ingested, report.duplicates) == (0, 3)
    assert await count(sessions, Message) == 3 and await count(sessions, Ticket) == 3
    async with sessions() as session:
        assert (await session.get(Mailbox, mailbox.id)).last_uid == 3


async def test_uidvalidity_change_resyncs_by_message_id_without_duplicates(sessions, settings, dovecot, mailbox):
    client = dovecot.client()
    client.create_folder("Support")
    client.logout()
    async with sessions() as session:
        row = await session.get(Mailbox, mailbox.id)
        row.folder = "Support"
        await session.commit()
    old = [customer_mail(subject=f"Old {n}", message_id=f"<old{n}@example.com>") for n in range(2)]
    dovecot.append(*old, folder="Support")
    assert (await poll(sessions, mailbox, settings)).ingested == 2
    async with sessions() as session:
        before = (await session.get(Mailbox, mailbox.id)).uidvalidity

    client = dovecot.client()  # a restore from backup: same mail, new UIDVALIDITY
    client.delete_folder("Support")
    time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
    client.create_folder("Support")
    client.logout()
    dovecot.append(*old, customer_mail(subject="New after restore"), folder="Support")

    report = await poll(sessions, mailbox, settings)
    assert (report.ingested, report.duplicates, report.quarantined) == (1, 0, 0)
    assert await count(sessions, Message) == 3
    async with sessions() as session:
        row = await session.get(Mailbox, mailbox.id, populate_existing=True)
        assert row.uidvalidity != before and row.last_uid == 3
    assert (await poll(sessions, mailbox, settings)).ingested == 0


class DroppingProxy:
    """A TCP proxy to Dovecot that cuts the connection when the client sends its Nth FETCH."""

    def __init__(self, target_port: int, drop_at_fetch: int) -> None:
        self.target_port = target_port
        self.drop_at_fetch = drop_at_fetch
        self.fetches = 0
        self.drops = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        with client, upstream:
            while not self.stopped.is_set():
                ready, _, _ = select.select([client, upstream], [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client and b"FETCH" in data.upper() and b"BODY.PEEK[]" in data.upper():
                        self.fetches += 1
                        if self.fetches == self.drop_at_fetch:
                            self.drops += 1
                            return  # the connection dies mid-poll
                    (upstream if sock is client else client).sendall(data)

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


async def test_connection_drop_mid_batch_reconnects_and_reads_each_message_once(
    sessions, settings, dovecot, mailbox, monkeypatch
):
    proxy = DroppingProxy(dovecot.port, drop_at_fetch=2)
    try:
        async with sessions() as session:
            row = await session.get(Mailbox, mailbox.id)
            row.imap_port = proxy.port
            await session.commit()
        await poll(sessions, mailbox, settings)
        monkeypatch.setattr(imap, "BATCH", 2)
        monkeypatch.setattr(MailboxReader, "backoff", 0.01)
        dovecot.append(*(customer_mail(subject=f"Batch {n}") for n in range(5)))

        await poll(sessions, mailbox, settings)
        assert proxy.drops == 1
        assert await count(sessions, Message) == 5 and await count(sessions, Ticket) == 5
        async with sessions() as session:
            row = await session.get(Mailbox, mailbox.id, populate_existing=True)
            assert row.last_uid == 5 and row.last_error is None
    finally:
        proxy.close()


async def test_bad_message_is_quarantined_while_the_rest_are_ingested(
    sessions, settings, dovecot, mailbox, monkeypatch
):
    fix = poison_ingest(monkeypatch)
    dovecot.append(customer_mail(subject="Fine 1"), customer_mail(subject="poison pill"),
                   customer_mail(subject="Fine 2"))
    report = await poll(sessions, mailbox, settings)
    assert (report.ingested, report.quarantined) == (2, 1)

    async with sessions() as session:
        quarantined = await session.scalar(sql_select(QuarantinedMessage))
    assert quarantined.reason == "ValueError: cannot store this one" and quarantined.account == "support@shop.test"
    assert b"poison pill" in blob_path(settings.raw_dir, quarantined.raw_ref).read_bytes()
    assert (await poll(sessions, mailbox, settings)).quarantined == 0  # the poller moved on

    fix()  # the bug is fixed: re-ingest
    outcome = await pipeline.reingest(sessions, quarantined.id, settings=settings)
    assert outcome.status == "ingested"
    async with sessions() as session:
        row = await session.get(QuarantinedMessage, quarantined.id)
        assert row.resolved_at is not None and row.resolved_ticket_id == outcome.result.ticket_id
    assert await count(sessions, Ticket) == 3


async def test_bounce_marks_the_reply_failed_and_opens_no_ticket(
    sessions, settings, dovecot, smtp_sink, mailbox, smtp_sender
):
    dovecot.append(customer_mail(sender="gone@example.com"))
    await poll(sessions, mailbox, settings)
    async with sessions() as session:
        ticket = await session.scalar(sql_select(Ticket))
        reply = await outbox.queue_reply(session, ticket, settings=settings, text="We refunded you.")
        assert await outbox.deliver(session, reply.id, settings=settings) == "sent"

    dovecot.append(bounce_of(reply.external_id, recipient="gone@example.com"))
    report = await poll(sessions, mailbox, settings)
    assert report.tickets_created == 0
    async with sessions() as session:
        row = await session.get(Message, reply.id, populate_existing=True)
        assert row.delivery_status == "failed" and "5.1.1" in row.delivery_error
    assert await count(sessions, Ticket) == 1


async def test_processed_mail_is_moved_to_its_folder(sessions, settings, dovecot, mailbox):
    client = dovecot.client()
    client.create_folder("Processed")
    client.logout()
    async with sessions() as session:
        row = await session.get(Mailbox, mailbox.id)
        row.processed_folder = "Processed"
        await session.commit()
    await poll(sessions, mailbox, settings)
    dovecot.append(customer_mail(subject="Move me"))
    assert (await poll(sessions, mailbox, settings)).ingested == 1
    client = dovecot.client()
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Processed")[b"EXISTS"] == 1
    finally:
        client.logout()


async def test_first_contact_reads_unread_mail_and_since_backfills_older(sessions, settings, dovecot, mailbox):
    client = dovecot.client()
    client.append("INBOX", customer_mail(subject="Read long ago"), flags=[b"\\Seen"])
    client.logout()
    dovecot.append(customer_mail(subject="Unread"))
    assert (await poll(sessions, mailbox, settings)).ingested == 1
    reader = MailboxReader(sessions, mailbox.id, settings=settings)
    try:
        from datetime import date

        report = await reader.poll(since=date(2000, 1, 1))
    finally:
        await reader.close()
    assert (report.ingested, report.duplicates) == (1, 0)
    assert await count(sessions, Ticket) == 2


async def test_first_sync_stopped_midway_resumes_after_its_last_committed_batch(
    sessions, settings, dovecot, mailbox, monkeypatch
):
    monkeypatch.setattr(imap, "BATCH", 5)
    client = dovecot.client()
    try:
        for n in range(23):  # UID 8 was read long ago: a first sync leaves it alone, resumed or not
            client.append("INBOX", customer_mail(subject=f"Order {n}"), flags=[b"\\Seen"] if n == 7 else [])
    finally:
        client.logout()
    receive_many, batches = imap.receive_many, []

    async def killed_in_third_batch(*args, **kwargs):
        batches.append(len(args[1]))
        if len(batches) == 3:
            raise RuntimeError("poller killed in its third batch")
        return await receive_many(*args, **kwargs)

    monkeypatch.setattr(imap, "receive_many", killed_in_third_batch)
    with pytest.raises(RuntimeError):
        await poll(sessions, mailbox, settings)
    assert await count(sessions, Message) == 10
    async with sessions() as session:
        row = await session.get(Mailbox, mailbox.id)
        assert (row.last_uid, row.sync_until, row.sync_scope) == (11, 23, "unseen") and row.uidvalidity

    dovecot.append(customer_mail(subject="Arrived while stopped"), customer_mail(subject="And another"))
    monkeypatch.setattr(imap, "receive_many", receive_many)
    report = await poll(sessions, mailbox, settings)
    assert report.uids == [*range(12, 24), 24, 25]  # only the rest: nothing read twice, the seen one skipped
    assert (report.ingested, report.duplicates) == (14, 0)
    assert await count(sessions, Message) == 24 and await count(sessions, Ticket) == 24
    async with sessions() as session:
        row = await session.get(Mailbox, mailbox.id, populate_existing=True)
        assert (row.last_uid, row.sync_until, row.sync_scope) == (25, None, None)
    assert (await poll(sessions, mailbox, settings)).uids == []


async def test_first_sync_cancelled_between_batches_neither_loses_nor_doubles(
    sessions, settings, dovecot, mailbox, monkeypatch
):
    monkeypatch.setattr(imap, "BATCH", 4)
    dovecot.append(*(customer_mail(subject=f"Order {n}") for n in range(14)))
    receive_many, second_done = imap.receive_many, asyncio.Event()

    async def counting(*args, **kwargs):
        outcomes = await receive_many(*args, **kwargs)
        if len(args[1]) and (await count(sessions, Message)) >= 8:
            second_done.set()
        return outcomes

    monkeypatch.setattr(imap, "receive_many", counting)
    task = asyncio.create_task(poll(sessions, mailbox, settings))
    await second_done.wait()
    task.cancel()  # as a supervisor shutting down would: wherever the poller is awaiting
    with pytest.raises(asyncio.CancelledError):
        await task

    report = await poll(sessions, mailbox, settings)
    # the cancel may land before or while the second batch's bookmark is saved: 4 or 8 were done
    assert report.uids in (list(range(5, 15)), list(range(9, 15)))
    assert report.ingested + report.duplicates == len(report.uids) and report.duplicates <= 4
    assert await count(sessions, Message) == 14 and await count(sessions, Ticket) == 14


async def test_idle_supervisor_stopping_mid_sync_commits_the_batch_in_progress(
    sessions, settings, dovecot, mailbox, monkeypatch
):
    monkeypatch.setattr(imap, "BATCH", 5)
    dovecot.append(*(customer_mail(subject=f"Order {n}") for n in range(40)))
    supervisor = IdleSupervisor(settings, refresh_seconds=0.2)
    supervisor.start()
    try:
        while await count(sessions, Message) == 0:
            await asyncio.sleep(0.02)
    finally:
        await asyncio.to_thread(supervisor.stop)  # as `serve` or the scheduler does on SIGTERM
    done = await count(sessions, Message)
    async with sessions() as session:
        row = await session.get(Mailbox, mailbox.id)
    assert done % 5 == 0 and row.last_uid == done  # whole batches, each with its bookmark: nothing rolled back
    report = await poll(sessions, mailbox, settings)
    assert report.uids == list(range(done + 1, 41)) and report.duplicates == 0
