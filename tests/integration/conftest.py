"""Real mail servers for integration tests: Dovecot (IMAP) and aiosmtpd (SMTP)."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.conftest import free_port, missing_component
from tests.support.dovecot import DOVECOT, start_dovecot


@dataclass
class Dovecot:
    """A running Dovecot with one user; `append` drops mail in as a customer's MTA would."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    process: subprocess.Popen = field(repr=False)

    def client(self) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, *raws: bytes, folder: str = "INBOX") -> None:
        client = self.client()
        try:
            for raw in raws:
                client.append(folder, raw)
        finally:
            client.logout()

    def mailbox_options(self, **overrides) -> dict:
        """Keyword arguments for a `Mailbox` row pointing at this server."""
        options = dict(address=self.user, imap_host=self.host, imap_port=self.port, imap_security="none",
                       imap_user=self.user, imap_password=self.password)
        options.update(overrides)
        return options


@pytest.fixture
def dovecot() -> Dovecot:
    """A real Dovecot from a temporary config on a free loopback port, mail in a temporary Maildir."""
    if DOVECOT is None:
        missing_component("Dovecot (apt-get install dovecot-imapd)")
    user, password = "support@shop.test", "imap-secret"
    server = start_dovecot(user, password)
    yield Dovecot("127.0.0.1", server.port, user, password, server.root, server.process)
    server.stop()


@dataclass
class SmtpSink:
    """Captured SMTP transactions; `reject(code, text, times)` makes the next ones fail."""

    host: str
    port: int
    messages: list = field(default_factory=list)
    rejections: list = field(default_factory=list)

    def reject(self, reply: str, times: int = 1) -> None:
        self.rejections.extend([reply] * times)


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        if self.sink.rejections:
            return self.sink.rejections.pop(0)
        self.sink.messages.append(envelope)
        return "250 OK queued"


@pytest.fixture
def smtp_sink() -> SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""
    try:
        from aiosmtpd.controller import Controller
    except ModuleNotFoundError:
        missing_component("aiosmtpd")
    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(_SinkHandler(sink), hostname=sink.host, port=sink.port)
    controller.start()
    yield sink
    controller.stop()


async def add_mailbox(sessions, **options):
    """Insert a mailbox row (IMAP to Dovecot and/or SMTP to the sink) and return it."""
    from helpdesk.models import Mailbox

    async with sessions() as session:
        mailbox = Mailbox(**options)
        session.add(mailbox)
        await session.commit()
        return mailbox


@pytest.fixture
async def mailbox(sessions, dovecot, smtp_sink):
    """support@shop.test: reads from the Dovecot fixture, sends through the SMTP sink."""
    return await add_mailbox(sessions, name="Shop Support", smtp_host=smtp_sink.host, smtp_port=smtp_sink.port,
                             smtp_security="none", **dovecot.mailbox_options())


@pytest.fixture
def smtp_sender(settings):
    """The real SMTP sender registered for "email"; queued replies are collected, not enqueued."""
    from helpdesk.channel import _senders, register_sender
    from channels.email.smtp import SmtpSender
    from helpdesk.tickets import outbox

    previous = _senders.get("email")
    queued: list[int] = []
    register_sender(SmtpSender(settings))
    outbox.set_enqueuer(lambda message_id, delay: queued.append(message_id))
    yield queued
    outbox.set_enqueuer(None)
    if previous is not None:
        register_sender(previous)
    else:
        _senders.pop("email", None)
