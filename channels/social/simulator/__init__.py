"""A local stand-in for the platforms' APIs (Meta's Graph API, Telegram's Bot API): tests and the
demo point the social senders at it (`api_base_url`), so replies go out without any platform account.

It behaves like the platform as far as our adapters use it: it answers the documented responses and
errors, records every request (`Recorder.requests`), and fails on demand (`Recorder.fail_next`: a
429 with Retry-After, a 500, a permanent error with the platform's error body).

Each platform's module (`messenger.py` for Messenger and Instagram, `whatsapp.py`, `telegram.py`;
`module_for(platform)`) gives:
- `routes(recorder) -> list`: Litestar route handlers of its API, at the paths our senders call
  (Graph API: `POST /me/messages` for Messenger and Instagram, `POST /{phone_number_id}/messages`,
  `/{phone_number_id}/media`, `GET /{media_id}`, `/{waba_id}/message_templates` for WhatsApp;
  Telegram: `/bot{token}/{method}`, `/file/bot{token}/{path}`); after each accepted send they call
  `recorder.on_sent(platform, account_id, request_json, answer_json)` when it is set;
- `inbound_body(platform, account_id, sender, text, *, name=None, message_id=None) -> bytes`: a
  webhook delivery of a customer's text message as the platform sends it;
- `signed_headers(platform, body, secret) -> dict`: the headers that authenticate it (Meta's
  X-Hub-Signature-256 with the app secret; Telegram's secret token header);
- `receipt_bodies(platform, account_id, request_json, answer_json) -> list[bytes]`: the webhook
  deliveries the platform sends later about a message it accepted (delivered, read), [] if none.

`simulator_app(recorder)` is the whole stand-in as an app; `running(recorder)` serves it on a free
loopback port in a thread (tests); the demo mounts `simulator_router(recorder)` under `/demo/platforms`.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Router


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any = None  # the JSON body, if it was JSON
    form: dict[str, str] = field(default_factory=dict)  # form fields of a multipart / urlencoded body
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name -> (filename, type, data)


async def recorded(request) -> Recorded:
    """A request as the platform's stand-in saw it: its JSON body, or its form fields and files."""
    entry = Recorded(method=request.method, path=request.url.path, headers=dict(request.headers),
                     query=dict(request.query_params))
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/", "application/x-www-form-urlencoded")):
        form = await request.form()
        for name, value in form.multi_items():
            if hasattr(value, "read"):
                entry.files[name] = (value.filename, value.content_type, await value.read())
            else:
                entry.form[name] = value
    elif content_type.startswith("application/json"):
        entry.json = await request.json()
    return entry


@dataclass
class Fault:
    """An answer given instead of the platform's normal one, to the next request(s) whose path contains `path`."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""
    times: int = 1


@dataclass
class Recorder:
    requests: list[Recorded] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    # the demo: called with (platform, account id, the API request's JSON, the simulator's answer) after
    # each accepted send, so the demo can post the delivery receipts the platform would send later
    on_sent: Callable[[str, str, Any, Any], None] | None = None
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # media id / file id -> (content type, data)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int, body: Any, *, path: str = "", times: int = 1, headers: dict | None = None) -> None:
        with self.lock:
            self.faults.append(Fault(status, body, headers or {}, path, times))

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path in path:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def record(self, entry: Recorded) -> None:
        with self.lock:
            self.requests.append(entry)

    def sent(self, path_part: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and path_part in r.path]


def module_for(platform: str):
    from channels.social.simulator import messenger, telegram, whatsapp

    return {"messenger": messenger, "instagram": messenger, "whatsapp": whatsapp, "telegram": telegram}[platform]


def simulator_router(recorder: Recorder, path: str = "/") -> Router:
    from channels.social.simulator import messenger, telegram, whatsapp

    return Router(path=path, route_handlers=[*messenger.routes(recorder), *whatsapp.routes(recorder),
                                             *telegram.routes(recorder)])


def simulator_app(recorder: Recorder) -> Litestar:
    return Litestar(route_handlers=[simulator_router(recorder)], openapi_config=None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running(recorder: Recorder | None = None) -> Iterator[tuple[str, Recorder]]:
    """Serve the simulator on 127.0.0.1 in a thread; yields (base URL, recorder)."""
    import uvicorn

    recorder = recorder or Recorder()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(simulator_app(recorder), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the platform simulator did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", recorder
    finally:
        server.should_exit = True
        thread.join(timeout=10)
