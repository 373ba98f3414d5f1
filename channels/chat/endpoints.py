"""The widget's HTTP endpoints under `/chat/{key}/` (docs/chat.md), mounted through the core's
public endpoint registry by `channels.registry.install_adapters`.

Every request is checked against the channel's allowed origins first: an `Origin` that is not
one of them is refused with 403 and no CORS headers (so the page cannot even read the refusal); a
POST must carry one (every browser sends it). A GET without one is a navigation (an attachment's
download link) or a same-origin fetch. The visitor token (`Authorization: Bearer`, `?token=` for a
download link) is the only way to a conversation: no endpoint takes a conversation or ticket id.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from litestar import Request, Response, Router, get, post, route
from litestar.enums import HttpMethod
from litestar.response import File
from litestar.stores.base import Store
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.chat import receive
from channels.chat.limits import allowed
from channels.chat.socket import chat_socket
from helpdesk.channel import Identity, Outbound, sender_for
from helpdesk.chat import channels as chat_channels
from helpdesk.chat import conversations
from helpdesk.chat import presence as chat_presence
from helpdesk.chat.conversations import ChatRefused, SessionRequest
from helpdesk.chat import tokens
from helpdesk.chat.tokens import TokenInvalid
from helpdesk.files import blob_path
from helpdesk.models import ChatChannel, ChatConversation, Ticket
from helpdesk.settings import Settings
from helpdesk.tickets.attachments import SANDBOX, media_type
from helpdesk.tickets.outbox import sending_mailbox

log = logging.getLogger(__name__)

UPLOAD_MAX_BYTES = 10 * 1024 * 1024
UPLOAD_BODY_MAX = UPLOAD_MAX_BYTES + 256 * 1024  # the file plus multipart's headers and a text
JSON_BODY_MAX = 16 * 1024
# what a visitor may upload, with the first bytes a real file of that type starts with
UPLOAD_TYPES: Mapping[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",), "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",), "application/pdf": (b"%PDF-",), "text/plain": (),
}


class Refused(Exception):
    def __init__(self, status: int, detail: str, *, origin: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.origin = status, detail, origin


def _answer(content, status: int = 200, origin: str | None = None, headers: dict | None = None) -> Response:
    cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {"Vary": "Origin"}
    return Response(content, status_code=status, headers={**cors, "Cache-Control": "no-store", **(headers or {})})


def _refusal(refused: Refused) -> Response:
    return _answer({"detail": refused.detail}, refused.status, refused.origin)


async def _channel(db: AsyncSession, request: Request, key: str) -> tuple[ChatChannel, str | None]:
    """The channel, if the request's Origin may use it; the origin to answer CORS for."""
    origin = request.headers.get("origin")
    channel = await chat_channels.channel_by_key(db, key)
    if channel is None:
        raise Refused(404, "there is no such chat")
    if origin is None:
        if request.method != "GET":
            raise Refused(403, "a chat request needs an Origin header")
        return channel, None
    if not chat_channels.origin_allowed(channel, origin):
        log.info("chat %s: request from origin %r refused", key, origin[:100])
        raise Refused(403, "this site may not use this chat")
    return channel, origin


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


async def _conversation(db: AsyncSession, settings: Settings, channel: ChatChannel, token: str | None,
                        origin: str | None) -> ChatConversation:
    try:
        return await conversations.conversation_for_token(db, settings, channel, token)
    except TokenInvalid as error:
        raise Refused(401, str(error), origin=origin) from None


@dataclass(frozen=True)
class VisitorRequest:
    channel: ChatChannel
    origin: str | None
    conversation: ChatConversation
    data: dict


async def _visitor_request(request: Request, db: AsyncSession, settings: Settings, key: str,
                           limit: str) -> VisitorRequest:
    """A visitor's JSON POST: origin, token, body, and one more of its `limit` (LIMITS)."""
    channel, origin = await _channel(db, request, key)
    conversation = await _conversation(db, settings, channel, _bearer(request), origin)
    data = await _json(request, origin)
    if not await allowed(_store(request, "throttle"), limit, conversation.public_id):
        raise Refused(429, "too many of these for now; try again later", origin=origin)
    return VisitorRequest(channel, origin, conversation, data)


async def _give_email(db: AsyncSession, visitor: VisitorRequest, email: str, name: str | None = None) -> None:
    try:
        await conversations.give_email(db, visitor.channel, visitor.conversation, email, name)
    except ChatRefused as error:
        raise Refused(error.status, str(error), origin=visitor.origin) from None


async def _json(request: Request, origin: str | None) -> dict:
    body = await request.body()
    if len(body) > JSON_BODY_MAX:
        raise Refused(413, "the request is too big", origin=origin)
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise Refused(400, "the body is not JSON", origin=origin) from None
    if not isinstance(data, dict):
        raise Refused(400, "the body is a JSON object", origin=origin)
    return {k: v for k, v in data.items() if isinstance(v, str)}  # every field is a string


def _store(request: Request, name: str) -> Store:
    return request.app.stores.get(name)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


@route(["/config", "/session", "/upload", "/transcript", "/offline", "/attachments/{attachment_id:int}"],
       http_method=[HttpMethod.OPTIONS], include_in_schema=False)
async def preflight(request: Request, db: AsyncSession, key: str) -> Response:
    """CORS preflight: only the channel's allowed origins, only our methods and headers."""
    try:
        _, origin = await _channel(db, request, key)
    except Refused as refused:
        return _refusal(refused)
    if origin is None:
        return _answer(None, 403)
    return _answer(None, 204, origin, {"Access-Control-Allow-Methods": "GET, POST",
                                       "Access-Control-Allow-Headers": "Authorization, Content-Type",
                                       "Access-Control-Max-Age": "600"})


@get("/config", include_in_schema=False)
async def config(request: Request, db: AsyncSession, key: str) -> Response:
    try:
        channel, origin = await _channel(db, request, key)
    except Refused as refused:
        return _refusal(refused)
    status = await chat_presence.channel_status(db, _store(request, "presence"), channel)
    return _answer({"name": channel.name, "colour": channel.colour, "greeting": channel.greeting,
                    "prechat_fields": channel.prechat_fields, "enforce_verification": channel.enforce_verification,
                    "online": status.online, "open_now": status.open_now}, origin=origin)


@post("/session", include_in_schema=False, status_code=200)
async def session(request: Request, db: AsyncSession, settings: Settings, key: str) -> Response:
    try:
        channel, origin = await _channel(db, request, key)
        data = await _json(request, origin)
        wanted = SessionRequest(**{name: data.get(name) for name in
                                   ("token", "identity_token", "user_id", "user_hash", "name", "email")})
        # the limit is on new conversations: a visitor's page loads resume theirs with a valid token
        if not _resumes(settings, key, wanted.token) and not await allowed(_store(request, "throttle"), "session",
                                                                            _client(request)):
            raise Refused(429, "too many chats started from this address; try again in a minute", origin=origin)
        try:
            started = await conversations.start_session(db, settings, channel, wanted, origin=origin)
        except TokenInvalid as error:
            raise Refused(401, str(error), origin=origin) from None
        except ChatRefused as error:
            raise Refused(error.status, str(error), origin=origin) from None
    except Refused as refused:
        return _refusal(refused)
    return _answer(started.answer(), origin=origin)


def _resumes(settings: Settings, key: str, token: str | None) -> bool:
    try:
        tokens.visitor_conversation(settings, token, channel_key=key)
    except TokenInvalid:
        return False
    return True


@post("/upload", include_in_schema=False, status_code=200, request_max_body_size=UPLOAD_BODY_MAX + 1024)
async def upload(request: Request, db: AsyncSession, settings: Settings, key: str) -> Response:
    try:
        channel, origin = await _channel(db, request, key)
        conversation = await _conversation(db, settings, channel, _bearer(request), origin)
        if int(request.headers.get("content-length") or 0) > UPLOAD_BODY_MAX:
            raise Refused(413, "a file may have at most 10 MB", origin=origin)
        if not await allowed(_store(request, "throttle"), "upload", conversation.public_id):
            raise Refused(429, "too many files for now; try again later", origin=origin)
        form = await request.form()
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise Refused(400, "send the file as the multipart field `file`", origin=origin)
        data = await file.read()
        if len(data) > UPLOAD_MAX_BYTES:
            raise Refused(413, "a file may have at most 10 MB", origin=origin)
        content_type = media_type(file.content_type)
        if content_type not in UPLOAD_TYPES or (UPLOAD_TYPES[content_type]
                                                and not data.startswith(UPLOAD_TYPES[content_type])):
            raise Refused(415, "pictures (PNG, JPEG, GIF, WebP), PDF and text files only", origin=origin)
        text = form.get("text")
        local_id = receive.message_id(form.get("id")) or str(uuid.uuid4())
        frame = {"type": "message", "id": local_id, "text": text if isinstance(text, str) else ""}
        await db.close()  # the pipeline uses its own sessions
        receipt = await receive.receive_frame(request.app.state.sessions, settings, channel, conversation, frame,
                                              files=[receive.file_entry(file.filename or "file", content_type, data)])
        if receipt.status == "quarantined":
            raise Refused(422, "the file could not be stored; it is kept for the team to look at", origin=origin)
        stored = receipt.frame
        if stored is None:
            async with request.app.state.sessions() as fresh:
                stored = await conversations.stored_frame(fresh, conversation.public_id, receipt.seq)
    except Refused as refused:
        return _refusal(refused)
    return _answer({"type": "message", **stored}, origin=origin)


@get("/attachments/{attachment_id:int}", include_in_schema=False)
async def attachment(request: Request, db: AsyncSession, settings: Settings, key: str,
                     attachment_id: int) -> Response | File:
    try:
        channel, origin = await _channel(db, request, key)
        conversation = await _conversation(db, settings, channel,
                                           _bearer(request) or request.query_params.get("token"), origin)
        found = await conversations.visitor_attachment(db, conversation.public_id, attachment_id)
        path = blob_path(settings.attachments_dir, found.sha256) if found is not None else None
        if path is None or not path.is_file():
            raise Refused(404, "there is no such file in this chat", origin=origin)
    except Refused as refused:
        return _refusal(refused)
    kind = media_type(found.content_type)
    # always a download, never rendered in our origin; HTML, SVG and the like as bytes
    return File(path=path, filename=found.filename, content_disposition_type="attachment",
                media_type=kind if kind in UPLOAD_TYPES else "application/octet-stream",
                headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": SANDBOX,
                         "Cache-Control": "private, no-store", "Vary": "Origin",
                         **({"Access-Control-Allow-Origin": origin,
                             "Access-Control-Expose-Headers": "Content-Disposition"} if origin else {})})


_sending: set[asyncio.Task] = set()


@post("/transcript", include_in_schema=False, status_code=202)
async def transcript(request: Request, db: AsyncSession, settings: Settings, key: str) -> Response:
    """The conversation so far, by email to the visitor (their email, or the one given now)."""
    try:
        visitor = await _visitor_request(request, db, settings, key, "transcript")
        channel, origin, conversation = visitor.channel, visitor.origin, visitor.conversation
        if visitor.data.get("email") and not conversation.email:
            await _give_email(db, visitor, visitor.data["email"])
        if not conversation.email:
            raise Refused(400, "which email address should the transcript go to?", origin=origin)
        text = await conversations.transcript(db, conversation)
        ticket = await db.get(Ticket, conversation.ticket_id) if conversation.ticket_id else None
        if not text or ticket is None:
            raise Refused(409, "nothing has been said in this chat yet", origin=origin)
        mailbox = await sending_mailbox(db, None)
        if mailbox is None:
            raise Refused(503, "this helpdesk sends no email", origin=origin)
    except Refused as refused:
        return _refusal(refused)
    outbound = Outbound(
        message_id=0, ticket_id=ticket.id, ticket_number=ticket.number or ticket.id, channel="email",
        recipient=Identity("email", conversation.email, conversation.name), cc=(),
        subject=f"Your chat with {channel.name}", text=text, html=None, attachments=[],
        external_id=f"<{uuid.uuid4().hex}@{settings.mail_domain}>", automatic=True, sending_account=mailbox)
    task = asyncio.get_running_loop().create_task(_send_transcript(outbound, conversation.public_id))
    _sending.add(task)
    task.add_done_callback(_sending.discard)
    return _answer({"detail": "the transcript is on its way"}, 202, origin)


async def _send_transcript(outbound: Outbound, public_id: str) -> None:
    try:
        await sender_for("email").send(outbound)
    except Exception:  # noqa: BLE001 - a courtesy copy: logged, the conversation itself is kept
        log.exception("chat transcript of %s to %s not sent", public_id, outbound.recipient.value)


@post("/offline", include_in_schema=False, status_code=202)
async def offline(request: Request, db: AsyncSession, settings: Settings, key: str) -> Response:
    """A message left while nobody is online; the replies go by email (the visitor is away)."""
    try:
        visitor = await _visitor_request(request, db, settings, key, "offline")
        channel, origin, conversation = visitor.channel, visitor.origin, visitor.conversation
        text = (visitor.data.get("text") or "").strip()
        if not text or len(text) > receive.MAX_TEXT:
            raise Refused(400, f"a message of 1 to {receive.MAX_TEXT} characters, please", origin=origin)
        await _give_email(db, visitor, visitor.data.get("email") or "", visitor.data.get("name"))
        await db.close()
        receipt = await receive.receive_frame(request.app.state.sessions, settings, channel, conversation,
                                              {"type": "message", "id": str(uuid.uuid4()), "text": text}, seen=False)
        if receipt.status == "quarantined":
            raise Refused(422, "the message could not be stored; it is kept for the team to look at", origin=origin)
    except Refused as refused:
        return _refusal(refused)
    return _answer({"seq": receipt.seq}, 202, origin)


chat_router = Router(path="/chat/{key:str}", route_handlers=[preflight, config, session, upload, attachment,
                                                             transcript, offline, chat_socket],
                     request_max_body_size=JSON_BODY_MAX)
