"""`helpdesk serve --demo` as a newcomer runs it: a real process, a real login, a reply that is
really sent (to the demo's local mail sink) and kept as an .eml file."""
from __future__ import annotations

import email
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from email import policy
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, port_open
from tests.support.console import csrf_from
from tests.support.processes import stop, wait_until_serving

HELPDESK = [sys.executable, "-m", "helpdesk"]
NO_FILE = {"attachments": ("", b"", "application/octet-stream")}  # the reply form is multipart


@pytest.fixture
def demo_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return env


def sql(data_dir: Path, query: str, *params):
    with closing(sqlite3.connect(data_dir / "helpdesk.sqlite3")) as conn:
        return conn.execute(query, params).fetchone()


def test_demo_reply_is_sent_to_the_local_sink_and_kept_as_eml(demo_env, tmp_path):
    data_dir, port = tmp_path / "var", free_port()
    base, log = f"http://127.0.0.1:{port}", tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen([*HELPDESK, "serve", "--demo", "--port", str(port)], env=demo_env, cwd=tmp_path,
                                   stdout=output, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_serving(process, base, log.read_text)
        printed = log.read_text()
        outbox_dir = data_dir / "demo-outbox"
        assert str(outbox_dir.resolve()) in printed.replace("\n", "")  # serve says where sent mail is kept
        sink_port = int(re.search(r"local mail sink on 127\.0\.0\.1:(\d+)", printed).group(1))

        with httpx.Client(base_url=base, timeout=10) as client:
            page = client.get("/console/login")
            signed_in = client.post("/console/login", data={
                "email": "admin@demo.test", "password": "demo-password", "_csrf_token": csrf_from(page.text),
                "next": "/console"})
            assert signed_in.status_code in (302, 303), signed_in.text
            ticket_id, number, customer = sql(data_dir, """
                SELECT t.id, t.number, m.sender_value FROM tickets t JOIN messages m ON m.ticket_id = t.id
                WHERE t.channel = 'email' AND m.direction = 'inbound' ORDER BY t.id LIMIT 1""")
            reply_id = _reply_and_wait_until_sent(client, data_dir, ticket_id, "Your tea is on its way.")
            ticket_page = client.get(f"/console/tickets/{ticket_id}").text
            shown = re.search(rf'id="message-{reply_id}".*?data-delivery="(\w+)"', ticket_page, re.S)
            assert shown and shown.group(1) == "sent"
            [kept] = list(outbox_dir.glob("*.eml"))

            # a demo chat ticket is answerable too: its customer left the chat long ago, so by email
            chat_ticket, chat_customer = sql(data_dir, """
                SELECT t.id, ci.value FROM tickets t JOIN customer_identities ci ON ci.customer_id = t.customer_id
                WHERE t.channel = 'chat' AND ci.kind = 'email' ORDER BY t.id LIMIT 1""")
            _reply_and_wait_until_sent(client, data_dir, chat_ticket, "We have tea for that.")
            [chat_mail] = [p for p in outbox_dir.glob("*.eml") if p != kept]
            chat_mail = email.message_from_bytes(chat_mail.read_bytes(), policy=policy.default)
            assert chat_mail["To"].addresses[0].addr_spec == chat_customer
            assert "We have tea for that." in chat_mail.get_body(("plain",)).get_content()
            # the demo shop page (any loopback port) may start a chat; another site may not
            assert client.post("/chat/demo/session", json={}, headers={"origin": base}).status_code == 200
            assert client.post("/chat/demo/session", json={},
                               headers={"origin": "https://elsewhere.example"}).status_code == 403

        mail = email.message_from_bytes(kept.read_bytes(), policy=policy.default)
        assert mail["To"].addresses[0].addr_spec == customer
        assert mail["From"].addresses[0].addr_spec == "support@demo.test"
        assert f"[#{number}]" in mail["Subject"]
        assert "Your tea is on its way." in mail.get_body(("plain",)).get_content()
        assert port_open("127.0.0.1", sink_port)
    finally:
        stop(process, signal.SIGTERM)
    assert process.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert not port_open("127.0.0.1", sink_port) and not port_open("127.0.0.1", port)


def _reply_and_wait_until_sent(client: httpx.Client, data_dir: Path, ticket_id: int, text: str) -> int:
    sent = client.post(f"/console/tickets/{ticket_id}/reply", files=NO_FILE, data={"body": text, "mode": "reply"},
                       headers={"x-csrftoken": client.cookies["helpdesk_csrf"]})
    assert sent.status_code in (302, 303), sent.text
    (reply_id,) = sql(data_dir, "SELECT max(id) FROM messages WHERE ticket_id = ? AND direction = 'outbound'",
                      ticket_id)
    deadline = time.monotonic() + 30
    while (status := sql(data_dir, "SELECT delivery_status, delivery_error FROM messages WHERE id = ?",
                         reply_id))[0] != "sent":
        assert status[0] in ("queued", "sending") and time.monotonic() < deadline, status
        time.sleep(0.2)
    return reply_id


def test_serve_on_a_port_in_use_says_so_in_one_line_before_starting_anything(demo_env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*HELPDESK, "serve", "--demo", "--port", str(port)], env=demo_env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert f"port {port} on 127.0.0.1 is in use" in line and "Traceback" not in result.stderr
    assert "running at" not in result.stdout + result.stderr
    data_dir = tmp_path / "var"
    assert not (data_dir / "helpdesk.sqlite3").exists() and not (data_dir / "demo-outbox").exists()


async def test_each_demo_run_points_the_one_demo_mailbox_at_its_sink(session):
    from sqlalchemy import select

    from helpdesk.models import Mailbox
    from helpdesk.tools.demo import send_demo_mail_through

    await send_demo_mail_through(session, "127.0.0.1", 2525)
    await send_demo_mail_through(session, "127.0.0.1", 2626)  # the next run's sink, on another port
    rows = (await session.execute(select(Mailbox.address, Mailbox.smtp_host, Mailbox.smtp_port,
                                         Mailbox.smtp_security, Mailbox.imap_host))).all()
    assert rows == [("support@demo.test", "127.0.0.1", 2626, "none", None)]
