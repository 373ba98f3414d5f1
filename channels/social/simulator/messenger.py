"""Meta's Send API for Messenger and Instagram, as far as our sender uses it, and the webhooks Meta
sends them (see the package docstring for what each platform module gives).

- `POST /me/messages?access_token=...`: a JSON message or a multipart upload (`filedata`, with
  `recipient` and `message` as JSON form fields); answers `{"recipient_id", "message_id": "m_..."}`,
  or Graph's OAuthException (code 190) without a token. A fault for path "/me/messages#upload"
  fails uploads only (a file refused after the reply's text went out).
- `GET /cdn/{media_id}`: the bytes of `recorder.media[media_id]`, standing in for the CDN links
  Messenger and Instagram put in a customer's attachments.

"me" is the page the token belongs to: Meta knows it, a simulator cannot, so `register_page(token,
platform, account_id)` tells it (the demo does, for its accounts); an unknown token still sends,
reported to `on_sent` as ("messenger", "me").
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Any

from litestar import Request, Response, get, post

from channels.social import meta
from channels.social.simulator import Recorded, Recorder, recorded

OBJECTS = {"messenger": "page", "instagram": "instagram"}
_pages: dict[str, tuple[str, str]] = {}  # access token -> (platform, account id)


def register_page(access_token: str, platform: str, account_id: str) -> None:
    _pages[access_token] = (platform, account_id)


def _graph_error(status: int, message: str, code: int, type_: str = "OAuthException") -> Response:
    return Response({"error": {"message": message, "type": type_, "code": code,
                               "fbtrace_id": secrets.token_urlsafe(8)}}, status_code=status)


def routes(recorder: Recorder) -> list:
    @post("/me/messages", status_code=200, include_in_schema=False)
    async def send_message(request: Request) -> Response:
        upload = request.headers.get("content-type", "").startswith("multipart/")
        entry = await recorded(request)
        if upload:
            sent: dict[str, Any] = {name: _maybe_json(value) for name, value in entry.form.items()}
        else:
            if entry.json is None:  # a body not labelled JSON is still read as JSON, as Meta does
                entry.json = await request.json()
            sent = entry.json
        recorder.record(entry)
        fault = recorder.take_fault(request.url.path + ("#upload" if upload else ""))
        if fault is not None:
            return Response(fault.body, status_code=fault.status, headers=fault.headers)
        token = request.query_params.get("access_token")
        if not token:
            return _graph_error(400, "An active access token must be used to query information about the current user.",
                                190)
        recipient = (sent.get("recipient") or {}).get("id") if isinstance(sent, dict) else None
        if not recipient:
            return _graph_error(400, "(#100) The parameter recipient is required", 100, "OAuthException")
        answer = {"recipient_id": str(recipient), "message_id": "m_" + secrets.token_urlsafe(24)}
        if recorder.on_sent is not None:
            platform, account_id = _pages.get(token, ("messenger", "me"))
            recorder.on_sent(platform, account_id, sent, answer)
        return Response(answer, status_code=200)

    @get("/cdn/{media_id:str}", include_in_schema=False)
    async def media_file(request: Request, media_id: str) -> Response:
        recorder.record(Recorded(method="GET", path=request.url.path, headers=dict(request.headers),
                                 query=dict(request.query_params)))
        fault = recorder.take_fault(request.url.path)
        if fault is not None:
            return Response(fault.body, status_code=fault.status, headers=fault.headers)
        if media_id not in recorder.media:
            return Response(b"URL signature expired", status_code=403, media_type="text/plain")
        content_type, data = recorder.media[media_id]
        return Response(data, media_type=content_type)

    return [send_message, media_file]


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _now_ms() -> int:
    return int(time.time() * 1000)


def _delivery(platform: str, account_id: str, customer: str, event: dict) -> bytes:
    now = _now_ms()
    return json.dumps({"object": OBJECTS[platform], "entry": [{"id": account_id, "time": now, "messaging": [
        {"sender": {"id": customer}, "recipient": {"id": account_id}, "timestamp": now, **event}]}]}).encode()


def inbound_body(platform: str, account_id: str, sender: str, text: str, *, name: str | None = None,
                 message_id: str | None = None) -> bytes:
    """A customer's text message as Meta delivers it today. `name` is not in it: Meta's webhooks carry
    only the sender's page-scoped id (PSID / IGSID), never a name."""
    return _delivery(platform, account_id, sender, {
        "message": {"mid": message_id or "m_" + secrets.token_urlsafe(24), "text": text}})


def signed_headers(platform: str, body: bytes, secret: str) -> dict[str, str]:
    return {"content-type": "application/json", meta.SIGNATURE_HEADER: meta.sign(body, secret)}


def receipt_bodies(platform: str, account_id: str, request_json: Any, answer_json: Any) -> list[bytes]:
    """What Meta sends after a message it accepted. Messenger: a `delivery` naming the message, then a
    `read` with a watermark (a time, no ids). Instagram sends no deliveries; its `read` names the message."""
    customer, mid = str(answer_json["recipient_id"]), str(answer_json["message_id"])
    if platform == "instagram":
        return [_delivery(platform, account_id, customer, {"read": {"mid": mid}})]
    return [_delivery(platform, account_id, customer, {"delivery": {"mids": [mid], "watermark": _now_ms()}}),
            _delivery(platform, account_id, customer, {"read": {"watermark": _now_ms()}})]
