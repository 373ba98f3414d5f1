"""Raw RFC 5322 bytes -> `InboundMessage`. Bad mail gets a best reading plus defects; input that is not
mail at all raises `UnreadablePayload`, which the pipeline quarantines.

The message is parsed with the `compat32` policy and headers are decoded here rather than by
`email.policy.default`: the default policy raises or substitutes U+FFFD on the broken charsets
real mail carries (gb2312 holding GBK bytes, Shift_JIS holding cp932, raw 8-bit headers,
windows-1258 filenames), and it costs several times more per message.

`header_block` finds the headers, `headers` and `charsets` decode them, `attachments` walks the
MIME tree into `body` text and attachments, `reports` recognises mail a machine wrote.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timezone

from helpdesk.channel import Attachment, Identity, InboundMessage, ThreadKeys, UnreadablePayload
from channels.email.parse.attachments import Walk, walk_mime
from channels.email.parse.body import body_html, body_text, html_to_text
from channels.email.parse.charsets import charset_hints, decode_bytes
from channels.email.parse.header_block import read_message
from channels.email.parse.headers import (
    Headers, addresses, decode_header_value, msg_ids, received_at, sender_of, thread_keys_of,
)
from channels.email.parse.reports import bounce_details, classify
from channels.email.quotes import strip_quotes

__all__ = ["parse", "decode_bytes", "decode_header_value", "html_to_text"]


def parse(raw: bytes, *, account: str | None = None, raw_ref: str | None = None) -> InboundMessage:
    """Read one raw email: its best reading, with defects, however broken the mail.

    Raises `UnreadablePayload` only for input that is not mail at all (no header block naming a
    sender, date, subject or message id: random bytes, an empty file, one cut off before its
    headers). On any other failure the raw text becomes the body.
    """
    try:
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raw = str(raw).encode("utf-8", "surrogateescape")
        raw = bytes(raw)
        return _parse(raw, account, raw_ref)
    except UnreadablePayload:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract is: never lose a message to a parser bug
        return _unreadable(raw, account, raw_ref, exc)


def _parse(raw: bytes, account: str | None, raw_ref: str | None) -> InboundMessage:
    defects: list[str] = []
    message = read_message(raw, defects)
    hints = charset_hints(message)
    headers = Headers(message, hints)

    ids = msg_ids(headers.raw("message-id"))
    external_id = ids[0] if ids else None
    if external_id is None:
        defects.append("MissingMessageId")
        external_id = _synthetic_id(raw)
    sender = sender_of(headers, defects)
    subject = headers.text("subject")
    cc = tuple(addresses(headers.all("to") + headers.all("cc"), hints))

    walk = Walk(hints)
    walk_mime(message, walk)
    defects.extend(walk.defects)
    html = body_html(walk.pieces)
    full_text = body_text(walk.pieces).strip("\n")

    referenced = set(re.findall(r"cid:([^\"'\s>)]+)", html or "", re.IGNORECASE))
    attachments = []
    for item in walk.attachments:
        cid = item["content_id"]
        inline = bool(cid) and (
            cid in referenced or (item["disposition"] != "attachment" and item["content_type"].startswith("image/"))
        )
        attachments.append(Attachment(item["filename"], item["content_type"], item["data"], cid, inline))

    report_type = str(message.get_param("report-type") or "").lower() \
        if message.get_content_type() == "multipart/report" else ""
    auto_generated, machine_reply = classify(headers, sender, subject, walk, report_type)
    bounce_of = bounce_reason = None
    if machine_reply == "bounce":
        bounce_of, bounce_reason = bounce_details(walk, full_text)

    return InboundMessage(
        channel="email",
        external_id=external_id,
        sender=sender,
        subject=subject,
        text=strip_quotes(full_text),
        html=html,
        attachments=attachments,
        thread_keys=thread_keys_of(headers, subject),
        received_at=received_at(headers, defects),
        auto_generated=auto_generated,
        account=account,
        raw_ref=raw_ref,
        cc=cc,
        full_text=full_text,
        defects=tuple(dict.fromkeys(defects)),
        bounce_of=bounce_of,
        bounce_reason=bounce_reason,
        machine_reply=machine_reply,
    )


def _synthetic_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()}@missing-message-id>"


def _unreadable(raw: object, account: str | None, raw_ref: str | None, exc: Exception) -> InboundMessage:
    try:
        data = bytes(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else str(raw).encode("utf-8", "replace")
    except Exception:  # noqa: BLE001
        data = b""
    text = decode_bytes(data, None)
    return InboundMessage(
        channel="email",
        external_id=_synthetic_id(data) if data else f"<{uuid.uuid4().hex}@missing-message-id>",
        sender=Identity("email", "unknown@invalid"),
        subject=None,
        text=text,
        html=None,
        attachments=[],
        thread_keys=ThreadKeys(),
        received_at=datetime.now(timezone.utc),
        auto_generated=False,
        account=account,
        raw_ref=raw_ref,
        full_text=text,
        defects=(f"ParseError:{type(exc).__name__}",),
    )
