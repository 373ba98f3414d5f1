"""The local relay: live events between the processes of one installation when Redis is not configured.

Each web process binds a Unix datagram socket in `<data dir>/live/` (mode 0700: only the
installation's user can send) and hands every event it receives to its channels plugin. Any
process (a CLI command, the worker, the scheduler, another web process) publishes by sending the
event to every socket there; a unit of work's events (an ingested batch) go together, as few
datagrams as fit. Why this and not the database or a port: docs/architecture.md.
"""
from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import secrets
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".sock"
# Events are ~100 bytes; one bigger than a datagram is a bug, dropped with a log line. (macOS
# refuses datagrams over net.local.dgram.maxdgram, 2 KiB by default: raise it there, or use Redis.)
MAX_DATAGRAM_BYTES = 16 * 1024
# The kernel queues few datagrams per socket (net.unix.max_dgram_qlen, 10 on many systems), so a
# burst (an import) waits for a web process that is behind, but never longer than this; a process
# that stays behind (stopped, hung) has events dropped, without waiting, until it reads again.
SEND_WAIT_SECONDS = 0.1
RESCAN_SECONDS = 1.0  # a coarse directory timestamp can miss a socket bound in the same tick
SUN_PATH_MAX = 104  # sockaddr_un's path: 108 bytes on Linux, 104 on macOS (with the final NUL)
DRAIN_AT_MOST = 500  # datagrams per wake-up, so a flood cannot hold the event loop


def datagrams(events: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    """Each event as two lines, `<channel>` and `<event as JSON>` (JSON has no raw newline), packed
    into as few datagrams as fit. The receiver hands the JSON on as it is, without decoding it."""
    packed: list[bytes] = []
    current = b""
    for channel, event in events:
        record = channel.encode() + b"\n" + json.dumps(event, default=str, separators=(",", ":")).encode() + b"\n"
        if len(record) > MAX_DATAGRAM_BYTES or "\n" in channel:
            log.warning("live event for %s dropped: %d bytes (the local relay carries at most %d, and no "
                        "newline in a channel's name)", channel, len(record), MAX_DATAGRAM_BYTES)
            continue
        if len(current) + len(record) > MAX_DATAGRAM_BYTES:
            packed.append(current)
            current = b""
        current += record
    return packed + [current] if current else packed


def events_in(datagram: bytes) -> list[tuple[str, bytes]]:
    lines = datagram.split(b"\n")
    return [(channel.decode(), payload) for channel, payload in zip(lines[0::2], lines[1::2]) if payload]


class LiveDirectory:
    """The installation's socket folder, and socket addresses in it that fit into a sockaddr."""

    def __init__(self, path: Path) -> None:
        self.path = Path(os.path.abspath(path))
        self._fd: int | None = None
        self._lock = threading.Lock()

    def address(self, name: str) -> str:
        full = str(self.path / name)
        if len(os.fsencode(full)) < SUN_PATH_MAX or not sys.platform.startswith("linux"):
            return full
        # A deep data folder does not fit into sockaddr_un; on Linux the same file is reached
        # through an open descriptor of the folder, whose /proc path is short.
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY)
        return f"/proc/self/fd/{self._fd}/{name}"

    def create(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)


class RelayPublisher:
    """Sends each event to every web process's socket in the folder (but `own`): best effort, it
    never raises. Stale sockets (their process is gone) are removed on the way."""

    def __init__(self, directory: Path, *, own: str | None = None) -> None:
        self.directory = LiveDirectory(directory)
        self.own = own
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # a blocking socket with a send timeout: the kernel sleeps while a peer's queue is full
        # (a socket timeout in Python would poll, and an unconnected datagram socket polls writable)
        seconds, fraction = divmod(SEND_WAIT_SECONDS, 1)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                                struct.pack("ll", int(seconds), int(fraction * 1_000_000)))
        self._folder = str(self.directory.path)
        self._peers: tuple[tuple[str, str], ...] = ()  # (socket's name, address)
        self._seen: tuple[int, float] | None = None  # (folder mtime, when it was listed)
        self._behind: set[str] = set()
        self._refused: set[str] = set()  # peers whose errors were logged once

    def __call__(self, channel: str, event: dict[str, Any]) -> None:
        self.publish_many([(channel, event)])

    def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        peers = self.peers()
        if not peers:
            return
        packed = datagrams(events)
        for name, address in peers:
            for data in packed:
                if not self._send(name, address, data):
                    break

    def peers(self) -> tuple[tuple[str, str], ...]:
        """The sockets in the folder, listed again when it changes (and at least every RESCAN_SECONDS)."""
        try:
            mtime = os.stat(self._folder).st_mtime_ns
        except FileNotFoundError:  # no web process has started yet: nobody to tell
            return ()
        now = time.monotonic()
        if self._seen is None or self._seen[0] != mtime or now - self._seen[1] > RESCAN_SECONDS:
            try:
                with os.scandir(self._folder) as entries:
                    self._peers = tuple((entry.name, self.directory.address(entry.name)) for entry in entries
                                        if entry.name.endswith(SUFFIX) and entry.name != self.own)
            except OSError as error:
                log.warning("live relay folder %s cannot be read: %s", self.directory.path, error)
                self._peers = ()
            self._seen = (mtime, now)
        return self._peers

    def _send(self, name: str, address: str, data: bytes) -> bool:
        """False when the rest of a batch need not be tried (the peer is gone, behind or refusing)."""
        behind = name in self._behind
        try:
            self._socket.sendto(data, socket.MSG_DONTWAIT if behind else 0, address)
        except BlockingIOError:
            if not behind:
                self._behind.add(name)
                log.warning("live events to web process %s are dropped: it has not read them for %.1f s",
                            name, SEND_WAIT_SECONDS)
            return False
        except (ConnectionRefusedError, FileNotFoundError):
            self._remove_stale(name)
            return False
        except OSError as error:
            if name not in self._refused:
                self._refused.add(name)
                log.warning("live events to web process %s cannot be sent: %s", name, error)
            return False
        if behind:
            self._behind.discard(name)
            log.info("web process %s reads live events again", name)
        return True

    def _remove_stale(self, name: str) -> None:
        """Its process ended without removing it (killed, crashed): nobody will read it again."""
        try:
            os.unlink(self.directory.path / name)
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("stale live socket %s cannot be removed: %s", name, error)
        self._seen = None

    def close(self) -> None:
        self._socket.close()


class RelayListener:
    """This web process's socket: each datagram is handed to `deliver(channel, payload)` on the event loop."""

    def __init__(self, directory: Path, deliver: Callable[[str, bytes], None]) -> None:
        self.directory = LiveDirectory(directory)
        self.directory.create()
        self.name = f"{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        self._deliver = deliver
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._socket.bind(self.directory.address(self.name))
        except OSError:
            self._socket.close()
            raise
        self._socket.setblocking(False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._socket.fileno(), self._drain)

    def _drain(self) -> None:
        for _ in range(DRAIN_AT_MOST):
            try:
                data = self._socket.recv(MAX_DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno != errno.EBADF:
                    log.warning("live relay socket: %s", error)
                return
            try:
                for channel, payload in events_in(data):
                    self._deliver(channel, payload)
            except Exception:  # noqa: BLE001 - one bad datagram must not stop the relay
                log.exception("live events from the relay could not be delivered")

    def close(self) -> None:
        self._loop.remove_reader(self._socket.fileno())
        self._socket.close()
        try:
            os.unlink(self.directory.path / self.name)
        except FileNotFoundError:
            pass


class LocalRelay:
    """A web process's part in the relay: its listening socket, and a publisher to the others."""

    def __init__(self, directory: Path, deliver: Callable[[str, bytes], None]) -> None:
        self.listener = RelayListener(directory, deliver)
        self.publish = RelayPublisher(directory, own=self.listener.name)

    def close(self) -> None:
        self.listener.close()
        self.publish.close()
