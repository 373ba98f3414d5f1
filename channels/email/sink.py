"""A local mail sink: an SMTP server (aiosmtpd) on the loopback that accepts every mail and keeps
it as an .eml file, so the demo's replies are really sent and a newcomer can open what went out."""
from __future__ import annotations

import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path

from aiosmtpd.controller import Controller


class _KeepAsFile:
    """aiosmtpd handler: each accepted mail becomes `<UTC time>-<random>.eml` in the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server, session, envelope) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        temporary = path.with_suffix(".part")  # a reader never sees half a file
        temporary.write_bytes(envelope.original_content)
        temporary.replace(path)
        return "250 OK kept"


class MailSink:
    """Started and stopped by its owner (`helpdesk serve --demo`); nothing it receives leaves the machine."""

    host = "127.0.0.1"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self._controller: Controller | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # aiosmtpd cannot listen on port 0 (it connects to its own port to start), so a free port
        # is picked first; another process may take it in between, hence a few attempts.
        for attempt in range(3):
            self.port = _free_port(self.host)
            controller = Controller(_KeepAsFile(self.folder), hostname=self.host, port=self.port)
            try:
                controller.start()
            except OSError:
                controller.stop(no_assert=True)
                if attempt == 2:
                    raise
                continue
            self._controller = controller
            return

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
