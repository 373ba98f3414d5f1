"""The demo's social channels as a newcomer tries them: `helpdesk serve --demo`, then in another terminal
`helpdesk simulate whatsapp ...` (a ticket appears), `--bad-signature` (refused, and said so), and a
reply from the console that goes to the demo's platform simulator and comes back delivered and read."""
from __future__ import annotations

import re
import signal
import subprocess
import time

import httpx

from tests.conftest import free_port
from tests.integration.test_demo import HELPDESK, NO_FILE, demo_env, sql  # noqa: F401
from tests.support.console import csrf_from
from tests.support.processes import stop, wait_until_serving


def test_simulated_whatsapp_message_becomes_a_ticket_and_the_reply_comes_back_read(demo_env, tmp_path):
    data_dir, port = tmp_path / "var", free_port()
    base, log = f"http://127.0.0.1:{port}", tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen([*HELPDESK, "serve", "--demo", "--port", str(port)], env=demo_env, cwd=tmp_path,
                                   stdout=output, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_serving(process, base, log.read_text)
        # the start-up output says what to paste (the demo is not on HELPDESK_BASE_URL's default port)
        hint = f'HELPDESK_BASE_URL={base} helpdesk simulate whatsapp --from +4915112345678 --text "Hello"'
        assert hint in log.read_text()
        env = {**demo_env, "HELPDESK_BASE_URL": base}

        def simulate(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([*HELPDESK, "simulate", "whatsapp", "--from", "+4915112345678", *args], env=env,
                                  cwd=tmp_path, capture_output=True, text=True, timeout=60)

        accepted = simulate("--text", "Hello, is the Sencha back in stock?", "--name", "Hanna Test")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert f"to {base}/webhooks/whatsapp" in accepted.stdout and "200 OK" in accepted.stdout
        ticket_id = _wait_for(lambda: sql(data_dir, """
            SELECT t.id FROM tickets t JOIN messages m ON m.ticket_id = t.id
            WHERE t.channel = 'whatsapp' AND m.text = 'Hello, is the Sencha back in stock?'"""))[0]
        assert sql(data_dir, "SELECT account FROM tickets WHERE id = ?", ticket_id) == ("100000000000002",)

        refused = simulate("--text", "forged", "--bad-signature")
        assert refused.returncode == 0, refused.stdout + refused.stderr
        assert "401 Unauthorized" in refused.stdout and "refused the wrongly signed webhook" in refused.stdout
        assert sql(data_dir, "SELECT count(*) FROM messages WHERE text = 'forged'") == (0,)

        with httpx.Client(base_url=base, timeout=10) as client:
            page = client.get("/console/login")
            signed_in = client.post("/console/login", data={
                "email": "admin@demo.test", "password": "demo-password", "_csrf_token": csrf_from(page.text),
                "next": "/console"})
            assert signed_in.status_code in (302, 303), signed_in.text
            reply_id = _reply(client, data_dir, ticket_id, "Yes, since Monday!")
            # the simulator accepted it; a second later the demo posts its receipts: delivered, then read
            assert _wait_for(lambda: sql(data_dir, "SELECT 1 FROM messages WHERE id = ? AND delivery_status = 'read'",
                                         reply_id), seconds=20)
            shown = client.get(f"/console/tickets/{ticket_id}").text
            assert re.search(rf'id="message-{reply_id}".*?data-delivery="read"', shown, re.S)

            # a seeded Telegram ticket is answerable too: its account and its customer's chat are the demo's
            (telegram_ticket,) = sql(data_dir, "SELECT id FROM tickets WHERE channel = 'telegram' ORDER BY id LIMIT 1")
            telegram_reply = _reply(client, data_dir, telegram_ticket, "Your tea is on its way.")
            assert sql(data_dir, "SELECT delivery_status FROM messages WHERE id = ?", telegram_reply) == ("sent",)
    finally:
        stop(process, signal.SIGTERM)
    assert process.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert "HTTP Request" not in log.read_text()  # the demo's own traffic to its simulator stays quiet


def _wait_for(probe, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while not (found := probe()):
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.2)
    return found


def _reply(client: httpx.Client, data_dir, ticket_id: int, text: str) -> int:
    """Send a reply from the console; returns its id once it left the outbox (or fails with its error)."""
    sent = client.post(f"/console/tickets/{ticket_id}/reply", files=NO_FILE, data={"body": text, "mode": "reply"},
                       headers={"x-csrftoken": client.cookies["helpdesk_csrf"]})
    assert sent.status_code in (302, 303), sent.text
    (reply_id,) = sql(data_dir, "SELECT max(id) FROM messages WHERE ticket_id = ? AND direction = 'outbound'",
                      ticket_id)

    def left_the_outbox():
        status, error = sql(data_dir, "SELECT delivery_status, delivery_error FROM messages WHERE id = ?", reply_id)
        assert status in ("queued", "sending", "sent", "delivered", "read"), (status, error)
        return status not in ("queued", "sending")

    _wait_for(left_the_outbox)
    return reply_id
