"""A visitor's message on the core's inbound pipeline: the raw frame (with the conversation the
token named, and any uploaded file) is stored first, parsed here, ingested, quarantined on failure.

The frame's `id` is the UUID the widget made; the stored `external_id` is `<public_id>:<UUID>`, so a
frame sent again after a reconnect is stored once, and one visitor's ids can never collide with, or
find out about, another's (helpdesk/chat/conversations.py)."""
from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from helpdesk.channel import Attachment, Identity, InboundMessage, ThreadKeys, UnreadablePayload
from helpdesk.chat import conversations
from helpdesk.chat.conversations import CHANNEL
from helpdesk.inbound import pipeline
from helpdesk.inbound.pipeline import Sessions
from helpdesk.models import ChatChannel, ChatConversation, utcnow
from helpdesk.settings import Settings

MAX_TEXT = 5000


def install() -> None:
    pipeline.register_parser(CHANNEL, parse)


def message_id(value) -> str | None:
    """The widget's UUID in its one canonical form, or None if it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def parse(raw: bytes, *, account: str | None, raw_ref: str) -> InboundMessage:
    try:
        envelope = json.loads(raw)
        frame = envelope["frame"]
        public_id = str(envelope["conversation"])
        received_at = datetime.fromisoformat(envelope["received_at"])
    except (ValueError, KeyError, TypeError) as error:
        raise UnreadablePayload(f"not a chat frame envelope: {error}") from None
    local_id = message_id(frame.get("id")) if isinstance(frame, dict) else None
    if local_id is None:
        raise UnreadablePayload("a chat message frame needs a UUID `id`")
    text = frame.get("text", "")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise UnreadablePayload(f"a chat message's text is a string of at most {MAX_TEXT} characters")
    try:
        files = [Attachment(str(f["filename"])[:200] or "file", str(f["content_type"]), base64.b64decode(f["data"]))
                 for f in envelope.get("files", [])]
    except (KeyError, TypeError, binascii.Error) as error:
        raise UnreadablePayload(f"a chat upload that cannot be read: {error}") from None
    if not text.strip() and not files:
        raise UnreadablePayload("an empty chat message")
    return InboundMessage(
        channel=CHANNEL, external_id=conversations.external_id(public_id, local_id),
        sender=Identity("chat", public_id, envelope.get("name") or None), subject=None, text=text.strip(),
        html=None, attachments=files, thread_keys=ThreadKeys(platform_thread_id=public_id),
        received_at=received_at, account=account or envelope.get("channel"), raw_ref=raw_ref)


@dataclass(frozen=True)
class Receipt:
    status: str  # "ingested" | "duplicate" | "quarantined"
    seq: int | None = None
    frame: dict | None = None


async def receive_frame(sessions: Sessions, settings: Settings, channel: ChatChannel, conversation: ChatConversation,
                        frame: dict, *, files: list[dict] = (), seen: bool = True) -> Receipt:
    """Store, parse and ingest one message frame of this conversation; then the conversation learns
    its ticket, and the stored message goes to the conversation's sockets (the visitor's other tabs).

    `conversation` may be a socket's copy: it is written only when the message changed its ticket
    or customer (the socket keeps `last_seen_at` fresh by itself), and a text message's frame is
    made from what was sent, so a message in a running chat costs ingest's one transaction."""
    received_at = utcnow()
    envelope = {"conversation": conversation.public_id, "channel": channel.key, "name": conversation.name,
                "received_at": received_at.isoformat(), "frame": frame, **({"files": list(files)} if files else {})}
    raw = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    outcome = (await pipeline.receive(sessions, CHANNEL, [raw], settings=settings, account=channel.key,
                                      own=frozenset(), auto_ack=False))[0]
    if outcome.status == "quarantined" or outcome.result is None:
        return Receipt("quarantined")
    result = outcome.result
    if conversation.ticket_id != result.ticket_id or conversation.customer_id is None or not seen:
        async with sessions() as session:
            current = await session.get(ChatConversation, conversation.id)
            await conversations.after_message(session, current, ticket_id=result.ticket_id,
                                              customer_id=result.customer_id, seen=seen)
        conversation.ticket_id, conversation.customer_id = current.ticket_id, current.customer_id
    if result.duplicate:
        return Receipt("duplicate", result.message_id)
    if files:
        async with sessions() as session:
            stored = await conversations.stored_frame(session, conversation.public_id, result.message_id)
    else:
        stored = {"seq": result.message_id, "id": frame["id"], "from": "visitor", "name": conversation.name,
                  "text": frame["text"].strip(), "at": conversations.iso(received_at), "attachments": []}
    if stored is not None:
        conversations.publish_message(conversation.public_id, stored)
    return Receipt("ingested", result.message_id, stored)


def file_entry(filename: str, content_type: str, data: bytes) -> dict:
    return {"filename": filename, "content_type": content_type, "data": base64.b64encode(data).decode("ascii")}
