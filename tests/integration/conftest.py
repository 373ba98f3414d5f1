"""Real mail servers for integration tests: Dovecot (IMAP) and aiosmtpd (SMTP)."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.conftest import free_port, missing_component, port_open

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)

DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
{users}
first_valid_uid = {uid}
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:{root}/mail/%u
mailbox_idle_check_interval = 1 secs
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""


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
    # not under pytest's tmp_path: its parents are private to us, and Dovecot drops privileges
    root = Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-"))
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    if os.geteuid() == 0:
        # Dovecot refuses mail access as root: the mail belongs to its own unprivileged user
        account = pwd.getpwnam("dovecot")
        uid, gid = account.pw_uid, account.pw_gid
        users = "default_login_user = dovenull\ndefault_internal_user = dovecot"
        for path in (root, *root.rglob("*")):
            os.chown(path, uid, gid)
        os.chmod(root, 0o755)
    else:
        uid, gid = os.getuid(), os.getgid()
        me = pwd.getpwuid(uid).pw_name
        users = f"default_login_user = {me}\ndefault_internal_user = {me}"
    user, password = "support@shop.test", "imap-secret"
    (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(DOVECOT_CONF.format(root=root, port=port, uid=uid, gid=gid, users=users))
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.stdout.read().decode(errors="replace") if process.poll() is not None else ""
            process.kill()
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            pytest.fail(f"Dovecot did not start: {output}\n{log}")
        time.sleep(0.05)
    yield Dovecot("127.0.0.1", port, user, password, root, process)
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(root, ignore_errors=True)


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
    from channels.base import _senders, register_sender
    from channels.email.smtp import SmtpSender
    from helpdesk import outbox

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
