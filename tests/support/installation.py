"""One installation on the embedded default (SQLite in its data folder, no Redis) as real processes:
`helpdesk serve` processes, other `helpdesk` commands, agents signed in over HTTP and their live
event streams (server-sent events).

Test modules import the fixture: `from tests.support.installation import installation  # noqa: F401`.
"""
from __future__ import annotations

import os
import queue
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from helpdesk import live
from helpdesk.live_relay import RelayPublisher
from helpdesk.settings import Settings
from helpdesk.web.console.live import COALESCE_SECONDS
from tests.conftest import free_port
from tests.support.processes import stop, wait_until_serving

HELPDESK = [sys.executable, "-m", "helpdesk"]
PROBE = {"event": "message.delivery", "probe": True}  # the queue stream says `counts`, a ticket's `timeline`
SECRET = "installation-secret"


class Installation:
    """`helpdesk` processes sharing one data folder, as on one machine without Redis."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data_dir = folder / "var"
        self.settings = Settings(data_dir=self.data_dir, secret_key=SECRET)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
        self.env.update(HELPDESK_DATA_DIR=str(self.data_dir), HELPDESK_SECRET_KEY=SECRET,
                        PYTHONPATH=str(Path(__file__).resolve().parents[2]))
        self.servers: list[subprocess.Popen] = []
        self._relay: RelayPublisher | None = None

    def seed_agents(self) -> None:
        """Bea (agent), Lena (lead) and Alex (admin), password tests.e2e.conftest.PASSWORD; migrates first."""
        from tests.e2e.conftest import _seed_agents

        _seed_agents(self.settings)

    def serve(self) -> tuple[str, subprocess.Popen]:
        """Start another `helpdesk serve` on a free loopback port; its URL once it answers."""
        port = free_port()
        log = self.folder / f"serve-{port}.log"
        with log.open("w") as output:
            process = subprocess.Popen([*HELPDESK, "serve", "--port", str(port)], env=self.env, cwd=self.folder,
                                       stdout=output, stderr=subprocess.STDOUT)
        self.servers.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(process, url, log.read_text)
        return url, process

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """A `helpdesk` command in its own process; fails the test with its output if it fails."""
        done = subprocess.run([*HELPDESK, *args], env=self.env, cwd=self.folder, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"helpdesk {' '.join(args)} failed:\n{done.stderr[-3000:]}"
        return done

    def import_mail(self, subject: str, sender: str = "ann@example.com") -> subprocess.CompletedProcess:
        """A new customer email brought in by `helpdesk import mail`, another process than the web's."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, "support@shop.test", subject
        message["Date"] = format_datetime(datetime.now(timezone.utc))
        message["Message-ID"] = make_msgid(domain="example.com")
        message.set_content(f"{subject}: please help.")
        path = self.folder / f"{make_msgid()[1:13]}.eml"
        path.write_bytes(bytes(message))
        return self.run("import", "mail", str(path))

    def newest_ticket_id(self) -> int:
        with closing(sqlite3.connect(self.settings.sqlite_path)) as conn:
            return conn.execute("SELECT max(id) FROM tickets").fetchone()[0]

    def publish(self, channel: str, event: dict) -> None:
        """An event sent over the relay from this process, as any other process of the installation sends one."""
        if self._relay is None:
            self._relay = RelayPublisher(self.settings.live_dir)
        self._relay(channel, event)

    def stream(self, client: httpx.Client, path: str) -> EventStream:
        """A console's event stream (/console/live/queues or /console/live/tickets/N), subscribed."""
        stream = EventStream(client, path)
        if path.endswith("/queues"):
            channel, name = live.queue_channel("all"), "counts"
        else:
            channel, name = live.ticket_channel(int(path.rsplit("/", 1)[1])), "timeline"
        stream.wait_until_subscribed(lambda: self.publish(channel, PROBE), name)
        return stream

    def live_sockets(self) -> list[str]:
        return sorted(p.name for p in self.settings.live_dir.glob("*.sock"))

    def stop(self) -> None:
        for process in self.servers:
            if process.poll() is None:
                stop(process)  # SIGTERM, as systemd and docker stop it


@pytest.fixture
def installation(tmp_path):
    """An installation with three agents (tests.e2e.conftest's), no process running yet."""
    installation = Installation(tmp_path)
    installation.seed_agents()
    yield installation
    installation.stop()


def signed_in(url: str, email: str) -> httpx.Client:
    """An HTTP client signed in through the login form (CSRF and all)."""
    from tests.e2e.conftest import PASSWORD

    client = httpx.Client(base_url=url, timeout=10)
    page = client.get("/console/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/console/login", data={"email": email, "password": PASSWORD, "_csrf_token": token,
                                                   "next": "/console"})
    assert response.status_code in (302, 303), response.text
    return client


class EventStream:
    """A console's server-sent event stream, read in a thread as a browser would."""

    def __init__(self, client: httpx.Client, path: str) -> None:
        self._client = httpx.Client(base_url=client.base_url, cookies=client.cookies, timeout=None)
        self._events: queue.Queue[tuple[str, str, float]] = queue.Queue()
        self._connected = threading.Event()
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._read, args=(path,), daemon=True)
        self._thread.start()
        assert self._connected.wait(15), f"the stream {path} did not open"

    def _read(self, path: str) -> None:
        event = data = ""
        try:
            with self._client.stream("GET", path) as response:
                self._socket = response.extensions["network_stream"].get_extra_info("socket")
                for line in response.iter_lines():
                    if line == ": connected":
                        self._connected.set()
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                    elif not line and event:
                        self._events.put((event, data, time.monotonic()))
                        event = data = ""
        except (httpx.HTTPError, OSError):  # closed by close(), or the server went away
            pass

    def next(self, name: str, timeout: float) -> tuple[str, float]:
        """The data of the next `name` event and when it was read; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event, data, at = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {name!r} event within {timeout} s") from None
            if event == name:
                return data, at

    def wait_until_subscribed(self, probe: Callable[[], None], name: str) -> None:
        """The stream says "connected" before it subscribes: `probe()` until a `name` event comes
        through, then let any straggler pass, so that no probe is taken for what a test waits for."""
        deadline = time.monotonic() + 20
        while True:
            probe()
            try:
                self.next(name, timeout=0.5)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        time.sleep(COALESCE_SECONDS + 0.5)
        while not self._events.empty():
            self._events.get_nowait()

    def close(self) -> None:
        """Hang up at once, as a closed browser tab does (closing the client would not wake the reader)."""
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._client.close()
