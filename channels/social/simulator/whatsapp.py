"""WhatsApp Cloud API, as far as our adapter uses it (see the package docstring): send messages, upload
and download media, list message templates; webhook bodies of a customer's message and of the
statuses of ours. Answers and errors follow developers.facebook.com/docs/whatsapp/cloud-api/reference."""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from litestar import Request, Response, get, post

from channels.social import meta
from channels.social.simulator import Recorded, Recorder

PLATFORM = "whatsapp"
MESSAGE_TYPES = ("text", "image", "video", "audio", "document", "sticker", "template", "location", "contacts",
                 "interactive", "reaction")
DOWNLOAD_PATH = "/whatsapp_business/attachments/"
# what GET /{waba-id}/message_templates lists: two approved ones, and one still in review (not offered)
TEMPLATES = [
    {"name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1001",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                    {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability "
                                             "to send a WhatsApp message notification from the Cloud API."},
                    {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}]},
    {"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1002",
     "components": [{"type": "BODY", "text": "Hello, here is news about your order {{1}}. Reply to this "
                                             "message to continue the conversation with our team.",
                     "example": {"body_text": [["#5001"]]}}]},
    {"name": "spring_sale", "language": "en_US", "status": "PENDING", "category": "MARKETING", "id": "1003",
     "components": [{"type": "BODY", "text": "Our spring sale starts {{1}}!"}]},
]


def _graph_error(status: int, message: str, code: int, kind: str = "OAuthException") -> Response:
    return Response({"error": {"message": message, "type": kind, "code": code,
                               "fbtrace_id": uuid.uuid4().hex[:20]}}, status_code=status)


def _unauthorised(request: Request) -> Response | None:
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer ") and header[7:].strip():
        return None
    return _graph_error(401, "Invalid OAuth access token - Cannot parse access token", 190)


def _invalid(message: str) -> Response:
    return _graph_error(400, f"(#100) {message}", 100)


async def _record(recorder: Recorder, request: Request, *, multipart: bool = False) -> tuple[Any, dict, dict]:
    body: Any = None
    form: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    if multipart:
        for name, value in (await request.form()).multi_items():
            if hasattr(value, "read"):
                files[name] = (value.filename, value.content_type, await value.read())
            else:
                form[name] = str(value)
    elif request.method == "POST":
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
    recorder.record(Recorded(request.method, request.url.path, dict(request.headers), dict(request.query_params),
                             json=body, form=form, files=files))
    return body, form, files


def _fault(recorder: Recorder, request: Request) -> Response | None:
    fault = recorder.take_fault(request.url.path)
    return None if fault is None else Response(fault.body, status_code=fault.status, headers=fault.headers)


async def _received(recorder: Recorder, request: Request, *, multipart: bool = False):
    """Record the request; returns (the answer to give instead: no token, a planned fault; body, form, files)."""
    body, form, files = await _record(recorder, request, multipart=multipart)
    return _unauthorised(request) or _fault(recorder, request), body, form, files


def _media(recorder: Recorder, media_id: str) -> tuple[str, bytes] | None:
    with recorder.lock:
        return recorder.media.get(media_id)


def _check_message(body: Any) -> str | None:
    """What is wrong with a send request, as the API words it; None if it would be accepted."""
    if not isinstance(body, dict):
        return "The request body must be JSON"
    if body.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required and must be whatsapp."
    if not str(body.get("to") or "").lstrip("+").isdigit():
        return "The parameter to is required (the recipient's phone number)."
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        return f"Param type must be one of {{{', '.join(MESSAGE_TYPES)}}} - got \"{kind}\"."
    content = body.get(kind)
    if not isinstance(content, dict):
        return f"The parameter {kind} is required."
    if kind == "text" and not str(content.get("body") or "").strip():
        return "The parameter text['body'] is required."
    if kind == "template" and not (content.get("name") and (content.get("language") or {}).get("code")):
        return "The parameters template['name'] and template['language']['code'] are required."
    if kind in ("image", "video", "audio", "document", "sticker") and not (content.get("id") or content.get("link")):
        return f"The parameter {kind}['id'] or {kind}['link'] is required."
    return None


def routes(recorder: Recorder) -> list:
    @post("/{phone_number_id:str}/messages", status_code=200)
    async def send_message(request: Request, phone_number_id: str) -> Response:
        refused, body, _, _ = await _received(recorder, request)
        if refused is not None:
            return refused
        if (problem := _check_message(body)) is not None:
            return _invalid(problem)
        to = str(body["to"]).lstrip("+")
        answer: dict = {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": to}],
                        "messages": [{"id": f"wamid.{uuid.uuid4().hex.upper()}"}]}
        if body.get("type") == "template":
            answer["messages"][0]["message_status"] = "accepted"
        if recorder.on_sent is not None:
            recorder.on_sent(PLATFORM, phone_number_id, body, answer)
        return Response(answer, status_code=200)

    @post("/{phone_number_id:str}/media", status_code=200)
    async def upload_media(request: Request, phone_number_id: str) -> Response:
        refused, _, form, files = await _received(recorder, request, multipart=True)
        if refused is not None:
            return refused
        if form.get("messaging_product") != "whatsapp":
            return _invalid("The parameter messaging_product is required and must be whatsapp.")
        if "file" not in files:
            return _invalid("The parameter file is required.")
        _, content_type, data = files["file"]
        media_id = str(uuid.uuid4().int)[:16]
        with recorder.lock:
            recorder.media[media_id] = (form.get("type") or content_type or "application/octet-stream", data)
        return Response({"id": media_id}, status_code=200)

    @get("/{media_id:str}")
    async def media_url(request: Request, media_id: str) -> Response:
        refused, *_ = await _received(recorder, request)
        if refused is not None:
            return refused
        if (stored := _media(recorder, media_id)) is None:
            return _graph_error(400, f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot "
                                     "be loaded due to missing permissions, or does not support this operation.",
                                100, "GraphMethodException")
        content_type, data = stored
        path = request.url.path
        prefix = path[:path.rfind("/")]  # where the simulator is mounted (the demo: /demo/platforms)
        url = f"{request.url.scheme}://{request.url.netloc}{prefix}{DOWNLOAD_PATH}?mid={media_id}"
        return Response({"messaging_product": "whatsapp", "url": url, "mime_type": content_type,
                         "sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data), "id": media_id})

    @get(DOWNLOAD_PATH)
    async def download_media(request: Request, mid: str = "") -> Response:
        refused, *_ = await _received(recorder, request)
        if refused is not None:
            return refused
        if (stored := _media(recorder, mid)) is None:
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        return Response(stored[1], media_type=stored[0])

    @get("/{waba_id:str}/message_templates")
    async def message_templates(request: Request, waba_id: str) -> Response:
        refused, *_ = await _received(recorder, request)
        if refused is not None:
            return refused
        return Response({"data": TEMPLATES, "paging": {"cursors": {"before": "MAZDZD", "after": "MgZDZD"}}})

    return [send_message, upload_media, media_url, download_media, message_templates]


def _envelope(account_id: str, value: dict) -> bytes:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550000000", "phone_number_id": account_id}, **value}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "waba-simulated", "changes": [{"value": value, "field": "messages"}]}]}).encode()


def inbound_body(platform: str, account_id: str, sender: str, text: str, *, name: str | None = None,
                 message_id: str | None = None) -> bytes:
    """A customer's text message as WhatsApp delivers it; `sender` is their number, with or without "+"."""
    wa_id = "".join(ch for ch in sender if ch.isdigit())
    return _envelope(account_id, {
        "contacts": [{"profile": {"name": name or wa_id}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": message_id or f"wamid.{uuid.uuid4().hex.upper()}",
                      "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}],
    })


def signed_headers(platform: str, body: bytes, secret: str) -> dict:
    return {"content-type": "application/json", meta.SIGNATURE_HEADER: meta.sign(body, secret)}


def receipt_bodies(platform: str, account_id: str, request_json: Any, answer_json: Any) -> list[bytes]:
    """The statuses WhatsApp sends later about an accepted message: sent, delivered, read."""
    try:
        wamid = answer_json["messages"][0]["id"]
        recipient = str(request_json["to"]).lstrip("+")
    except (KeyError, IndexError, TypeError):
        return []
    now = int(time.time())
    return [_envelope(account_id, {"statuses": [{"id": wamid, "status": status, "timestamp": str(now),
                                                 "recipient_id": recipient}]})
            for status in ("sent", "delivered", "read")]
