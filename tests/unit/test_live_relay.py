"""The local relay's edges, on real Unix sockets: what a slow, stopped or far-away web process does
to the publisher (helpdesk/live_relay.py). The whole path, process to console:
tests/integration/test_live_across_processes.py."""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import stat
import sys
import time

import pytest

from helpdesk import live
from helpdesk.live_relay import SEND_WAIT_SECONDS, LiveDirectory, LocalRelay, RelayPublisher, events_in

TICKET_CREATED = {"event": "ticket.created", "ticket_id": 7}


class WebProcess:
    """A web process's part of the relay, recording what its consoles would be told."""

    def __init__(self, folder) -> None:
        self.received: list[tuple[str, dict]] = []
        self.relay = LocalRelay(folder, lambda channel, payload: self.received.append((channel, json.loads(payload))))

    async def wait_for(self, count: int, timeout: float = 3.0) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.received


async def test_a_web_process_gets_the_others_events_and_not_its_own(tmp_path):
    folder = tmp_path / "live"
    first, second = WebProcess(folder), WebProcess(folder)
    try:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # only the installation's user can send
        first.relay.publish("queue:all", TICKET_CREATED)
        assert await second.wait_for(1) == [("queue:all", TICKET_CREATED)]
        await asyncio.sleep(0.1)
        assert first.received == []  # its own consoles got it through its channels plugin already
    finally:
        first.relay.close()
        second.relay.close()
    assert list(folder.iterdir()) == []  # a web process that ends takes its socket with it


async def test_an_oversize_event_is_dropped_with_a_log_line_and_the_next_arrives(tmp_path, caplog):
    web = WebProcess(tmp_path / "live")
    try:
        publish = RelayPublisher(tmp_path / "live")
        with caplog.at_level(logging.WARNING, logger="helpdesk.live_relay"):
            publish("ticket:7", {"event": "message.created", "text": "x" * 20_000})
            publish("ticket:7", {"event": "message.created", "message_id": 3})
        assert await web.wait_for(1) == [("ticket:7", {"event": "message.created", "message_id": 3})]
        assert "live event for ticket:7 dropped" in caplog.text
    finally:
        web.relay.close()


def test_a_stopped_web_process_delays_publishing_once_then_not_at_all(tmp_path, caplog):
    folder = LiveDirectory(tmp_path / "live")
    folder.create()
    stopped = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # bound, but nobody reads it
    stopped.bind(folder.address("99-stopped.sock"))
    publish = RelayPublisher(folder.path)
    try:
        with caplog.at_level(logging.INFO, logger="helpdesk.live_relay"):
            started = time.monotonic()
            for n in range(200):
                publish("queue:all", {"event": "ticket.created", "ticket_id": n})
            elapsed = time.monotonic() - started
            assert SEND_WAIT_SECONDS <= elapsed < SEND_WAIT_SECONDS + 0.5  # one wait, not 190
            assert caplog.text.count("are dropped") == 1
            stopped.setblocking(False)
            queued = []
            while True:
                try:
                    queued += [json.loads(payload) for _, payload in events_in(stopped.recv(65536))]
                except BlockingIOError:
                    break
            assert queued and queued[0]["ticket_id"] == 0  # what the kernel held is read when it goes on
            publish("queue:all", {"event": "ticket.created", "ticket_id": 500})
            assert [json.loads(payload)["ticket_id"] for _, payload in events_in(stopped.recv(65536))] == [500]
            assert "reads live events again" in caplog.text
    finally:
        stopped.close()
        publish.close()


def test_a_batchs_events_travel_together_so_an_import_does_not_wait_for_the_web_process(tmp_path, caplog):
    folder = LiveDirectory(tmp_path / "live")
    folder.create()
    busy = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # reads nothing while the batch arrives
    busy.bind(folder.address("98-busy.sock"))
    publish = RelayPublisher(folder.path)
    events = [(f"ticket:{n}", {"event": "message.created", "ticket_id": n, "message_id": n}) for n in range(200)]
    try:
        with caplog.at_level(logging.WARNING, logger="helpdesk.live_relay"):
            live.set_transport(publish)
            started = time.monotonic()
            live.publish_many(events)  # as ingest_many does after its COMMIT
            assert time.monotonic() - started < SEND_WAIT_SECONDS
        assert caplog.text == ""
        busy.setblocking(False)
        received = []
        while True:
            try:
                received += [(channel, json.loads(payload)) for channel, payload in events_in(busy.recv(65536))]
            except BlockingIOError:
                break
        assert received == events
    finally:
        live.set_transport(None)
        busy.close()
        publish.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the short path goes through /proc")
async def test_a_data_folder_too_deep_for_a_socket_address_still_relays(tmp_path):
    folder = tmp_path / ("deep-" * 30) / "live"
    assert len(str(folder)) > 108
    web = WebProcess(folder)
    try:
        RelayPublisher(folder)("queue:all", TICKET_CREATED)
        assert await web.wait_for(1) == [("queue:all", TICKET_CREATED)]
    finally:
        web.relay.close()
    assert list(folder.iterdir()) == []
