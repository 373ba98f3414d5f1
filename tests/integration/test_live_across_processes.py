"""Live events from any process of an installation without Redis reach every open console: real
`helpdesk serve` processes on SQLite, mail imported by `helpdesk import mail` in another process."""
from __future__ import annotations

import json
import signal
import socket
import time

from helpdesk.live_relay import LiveDirectory
from tests.support.installation import installation, signed_in  # noqa: F401 - the fixture


def test_mail_imported_in_another_process_reaches_the_open_queue(installation):
    url, _ = installation.serve()
    bea = signed_in(url, "bea@shop.test")
    stream = installation.stream(bea, "/console/live/queues")
    try:
        installation.import_mail("My parcel never arrived")
        stream.next("counts", timeout=5)  # the nav and the list re-fetch themselves on it
        assert "My parcel never arrived" in bea.get("/console/queues/open").text
    finally:
        stream.close()
    installation.stop()
    assert installation.live_sockets() == []  # a web process that stops takes its socket with it


def test_every_web_process_gets_the_events_of_commands_and_of_each_other(installation):
    (url_a, _), (url_b, _) = installation.serve(), installation.serve()
    assert len(installation.live_sockets()) == 2
    bea_on_b, lena_on_a = signed_in(url_b, "bea@shop.test"), signed_in(url_a, "lena@shop.test")
    queue_on_a = installation.stream(signed_in(url_a, "alex@shop.test"), "/console/live/queues")
    queue_on_b = installation.stream(bea_on_b, "/console/live/queues")
    try:
        installation.import_mail("The lid is cracked")
        queue_on_a.next("counts", timeout=5)
        queue_on_b.next("counts", timeout=5)

        ticket_id = installation.newest_ticket_id()
        ticket_on_b = installation.stream(bea_on_b, f"/console/live/tickets/{ticket_id}")
        try:
            typed = lena_on_a.post(f"/console/tickets/{ticket_id}/presence", data={"state": "typing"},
                                   headers={"x-csrftoken": lena_on_a.cookies["helpdesk_csrf"]})
            assert typed.status_code == 204, typed.text
            html, _ = ticket_on_b.next("presence", timeout=5)
            assert "Lena Lead is typing…" in html
        finally:
            ticket_on_b.close()
    finally:
        queue_on_a.close()
        queue_on_b.close()


def test_sockets_left_by_a_killed_web_process_do_not_stop_the_events(installation):
    (_, killed), (url, alive) = installation.serve(), installation.serve()
    stream = installation.stream(signed_in(url, "bea@shop.test"), "/console/live/queues")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert len(installation.live_sockets()) == 2  # nobody removed the killed process's socket
        # and one more, as a process killed between binding its socket and reading it leaves
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stale.bind(LiveDirectory(installation.settings.live_dir).address("1-deadbeef.sock"))
        stale.close()
        installation.import_mail("Wrong size delivered")
        stream.next("counts", timeout=5)
        remaining = installation.live_sockets()  # the command's publisher removed both stale sockets
        assert len(remaining) == 1 and remaining[0].startswith(f"{alive.pid}-")
    finally:
        stream.close()


def test_with_redis_configured_a_command_publishes_through_redis(installation, redis_url):
    import redis

    installation.env["HELPDESK_REDIS_URL"] = redis_url
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.psubscribe("ticket:*")
    try:
        installation.import_mail("Refund for order 5512")
        ticket_id = installation.newest_ticket_id()
        deadline, published = time.monotonic() + 5, []
        while time.monotonic() < deadline and not published:
            message = subscriber.get_message(timeout=0.2)
            # pub/sub is not scoped by database: other installations may publish on this server too
            if message and message["channel"] == f"ticket:{ticket_id}".encode():
                published.append(json.loads(message["data"]))
        assert published and published[0]["event"] == "message.created"
        assert not installation.settings.live_dir.exists()  # the relay is for installations without Redis
    finally:
        subscriber.close()
