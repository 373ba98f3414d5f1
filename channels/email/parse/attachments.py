"""The MIME walk: which parts are body text and which are attachments, containers opened up
(forwarded messages, Outlook's winmail.dat, opaque-signed S/MIME)."""
from __future__ import annotations

import mimetypes
import re
import unicodedata
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message

from channels.email.parse.body import Piece, body_html, body_text, decode_text, split_uuencoded
from channels.email.parse.charsets import decode_bytes
from channels.email.parse.headers import Headers, collapse, unescape_raw
from channels.email.parse.smime import signed_content

_MAX_DEPTH = 40

_DSN_FIELD = re.compile(
    r"^(diagnostic-code|status|action|final-recipient|original-recipient)\s*:\s*(.+(?:\n[ \t].+)*)",
    re.IGNORECASE | re.MULTILINE,
)
_FILENAME_LIKE = re.compile(r"^[\w \-.()]{1,100}\.[A-Za-z0-9]{2,5}$")


class Walk:
    """State gathered while walking the MIME tree of one message."""

    def __init__(self, hints: tuple[str, ...] = ()) -> None:
        self.hints = hints
        # Body parts in order, each (plain text, HTML); an alternative fills both.
        self.pieces: list[Piece] = []
        self.attachments: list[dict] = []
        self.defects: list[str] = []
        self.report = False  # a DSN, MDN or ARF report part was seen
        self.dsn: dict[str, str] = {}
        self.original_headers: list[Message] = []
        self.counter = 0

    def branch(self) -> "Walk":
        child = Walk(self.hints)
        child.counter = self.counter
        return child

    def absorb(self, child: "Walk") -> None:
        """Take over everything but the body text of a branch (multipart/alternative)."""
        self.counter = child.counter
        self.defects.extend(child.defects)
        self.report = self.report or child.report
        for key, value in child.dsn.items():
            self.dsn.setdefault(key, value)
        self.original_headers.extend(child.original_headers)
        self.attachments.extend(child.attachments)

    def add_attachment(self, data: bytes, content_type: str, filename: str | None,
                       content_id: str | None = None, disposition: str | None = None,
                       extension: str | None = None) -> None:
        self.counter += 1
        if not filename and content_id:
            # Outlook names inline images only in their Content-ID: <image001.png@01D...>.
            local = content_id.split("@", 1)[0]
            if _FILENAME_LIKE.match(local):
                filename = local
        if not filename:
            extension = extension or mimetypes.guess_extension(content_type, strict=False) or ".bin"
            extension = {".jpe": ".jpg", ".jpeg": ".jpg", ".ksh": ".txt", ".htm": ".html"}.get(extension, extension)
            filename = f"attachment-{self.counter}{extension}"
        self.attachments.append(
            {"filename": filename, "content_type": content_type, "data": data,
             "content_id": content_id, "disposition": disposition}
        )


def clean_filename(name: str) -> str | None:
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("/", "_").replace("\\", "_").strip().strip('"').strip()
    return name[:255] or None


def _filename(headers: Headers) -> str | None:
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = headers.params(header).get(param)
        if value:
            name = clean_filename(value)
            if name:
                return name
    return None


def _content_id(headers: Headers) -> str | None:
    value = headers.raw("content-id")
    if not value:
        return None
    value = collapse(unescape_raw(value)).strip().strip("<>").strip()
    return value or None


def _disposition(headers: Headers) -> str | None:
    value = headers.raw("content-disposition")
    if not value:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def payload_bytes(part: Message, walk: Walk) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list):
        # compat32 parses message/* bodies into sub-messages; serialise them back.
        return b"\n".join(message_bytes(item) for item in payload if isinstance(item, Message))
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001 - broken base64/uuencode
        walk.defects.append(type(exc).__name__)
        data = None
    if data is None:
        data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    return data


def _part_text(part: Message, headers: Headers, walk: Walk) -> str:
    return decode_text(payload_bytes(part, walk), headers.params("content-type"), walk.defects, walk.hints)


def _extract_uuencoded(text: str, walk: Walk) -> str:
    text, files = split_uuencoded(text)
    for name, data in files:
        walk.add_attachment(data, mimetypes.guess_type(name)[0] or "application/octet-stream", clean_filename(name))
    return text


def message_bytes(message: Message) -> bytes:
    try:
        return message.as_bytes(policy=email_policy.compat32)
    except Exception:  # noqa: BLE001
        try:
            return message.as_string().encode("utf-8", "surrogateescape")
        except Exception:  # noqa: BLE001
            return b""


_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_REPORT_TYPES = frozenset({"message/disposition-notification", "message/feedback-report",
                           "message/global-disposition-notification"})
_HEADERS_TYPES = frozenset({"text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header",
                            "message/global-headers"})
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
_PKCS7_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})


def walk_mime(part: Message, walk: Walk, depth: int = 0, resource: bool = False) -> None:
    """Sort one MIME entity into body text, HTML and attachments.

    `resource` marks the non-root parts of multipart/related: they are what the HTML
    embeds, never more body text.
    """
    if depth > _MAX_DEPTH:
        walk.defects.append("MimeTooDeep")
        return
    for defect in getattr(part, "defects", ()):
        walk.defects.append(type(defect).__name__)
    headers = Headers(part, walk.hints)
    content_type = part.get_content_type()
    maintype = content_type.split("/", 1)[0]
    disposition = _disposition(headers)
    filename = _filename(headers)
    payload = part.get_payload()

    if content_type in _DSN_TYPES:
        walk.report = True
        data = payload_bytes(part, walk)
        for key, value in _DSN_FIELD.findall(decode_bytes(data, "utf-8")):
            walk.dsn.setdefault(key.lower(), collapse(value))
        description = headers.text("content-description")
        if not filename and description and len(description) < 60:
            filename = clean_filename(description + ".txt")
        walk.add_attachment(data, content_type, filename or "delivery-status.txt")
        return
    if content_type in _REPORT_TYPES:
        walk.report = True
        walk.add_attachment(payload_bytes(part, walk), content_type, filename, extension=".txt")
        return
    if content_type in _HEADERS_TYPES:
        data = payload_bytes(part, walk)
        try:
            walk.original_headers.append(message_from_bytes(data, policy=email_policy.compat32))
        except Exception:  # noqa: BLE001
            pass
        walk.add_attachment(data, content_type, filename, extension=".txt")
        return
    if maintype == "message" and isinstance(payload, list):
        _walk_embedded(part, payload, walk, filename)
        return

    if maintype == "multipart":
        if not isinstance(payload, list):
            # No boundary found: the parser kept the body as one string. Read it as text.
            walk.defects.append("MultipartWithoutParts")
            text = decode_bytes(payload_bytes(part, walk), headers.params("content-type").get("charset"),
                                walk.defects, walk.hints)
            if text.strip():
                walk.pieces.append((_extract_uuencoded(text.replace("\r\n", "\n"), walk), None))
            return
        children = [child for child in payload if isinstance(child, Message)]
        if content_type == "multipart/report":
            walk.report = True
        if content_type == "multipart/alternative":
            _walk_alternative(children, walk, depth)
        elif content_type == "multipart/signed" and len(children) >= 2:
            walk_mime(children[0], walk, depth + 1, resource)
            for signature in children[1:]:
                sig_type = signature.get_content_type()
                name = _filename(Headers(signature, walk.hints))
                name = name or ("signature.asc" if "pgp" in sig_type else "smime.p7s")
                walk.add_attachment(payload_bytes(signature, walk), sig_type, name)
        elif content_type == "multipart/related" and children:
            start = headers.params("content-type").get("start", "").strip("<> ")
            root = next((c for c in children if start and _content_id(Headers(c)) == start), children[0])
            walk_mime(root, walk, depth + 1, resource)
            for child in children:
                if child is not root:
                    walk_mime(child, walk, depth + 1, True)
        else:
            for child in children:
                walk_mime(child, walk, depth + 1, resource)
        return

    is_attachment = resource or disposition == "attachment" or (filename is not None and disposition != "inline")
    if content_type == "text/calendar":
        # Even as an alternative of the body, an invite is something to open, not text to read.
        walk.add_attachment(payload_bytes(part, walk), content_type, filename or "invite.ics")
        return
    if content_type in _TNEF_TYPES or (filename and filename.lower() == "winmail.dat"):
        _walk_tnef(part, walk, filename)
        return
    if content_type in _PKCS7_TYPES or (filename and filename.lower().endswith(".p7m")):
        _walk_pkcs7(part, headers, walk, filename, depth)
        return

    if maintype == "text" and not is_attachment:
        if content_type == "text/html":
            walk.pieces.append((None, _part_text(part, headers, walk)))
            return
        if content_type == "text/plain" or (not filename and content_type not in ("text/x-vcard", "text/vcard")):
            text = _part_text(part, headers, walk)
            if content_type in ("text/enriched", "text/richtext"):
                text = re.sub(r"<[^>]*>", "", text)
            walk.pieces.append((_extract_uuencoded(text, walk), None))
            return

    walk.add_attachment(payload_bytes(part, walk), content_type, filename, _content_id(headers), disposition)


def _walk_alternative(children: list[Message], walk: Walk, depth: int) -> None:
    """Keep one plain and one HTML rendering; attachments of every branch stay."""
    plain: str | None = None
    rich: str | None = None
    for child in children:
        branch = walk.branch()
        walk_mime(child, branch, depth + 1)
        walk.absorb(branch)
        if not branch.pieces:
            continue
        if any(html is not None for _, html in branch.pieces):
            rich = body_html(branch.pieces)  # the last alternative is the preferred one (RFC 2046 5.1.4)
        elif plain is None:
            text = body_text(branch.pieces)
            plain = text if text.strip() else None
    if plain is not None or rich is not None:
        walk.pieces.append((plain, rich))


def _walk_embedded(part: Message, payload: list, walk: Walk, filename: str | None) -> None:
    inner = next((item for item in payload if isinstance(item, Message)), None)
    if inner is None:
        walk.add_attachment(payload_bytes(part, walk), part.get_content_type(), filename)
        return
    walk.original_headers.append(inner)
    if not filename:
        # Named after its subject; bounces often strip it, then the part's own description
        # ("Undelivered Message") is the next best name.
        title = Headers(inner, walk.hints).text("subject") or Headers(part, walk.hints).text("content-description")
        if title:
            filename = clean_filename(title[:200] + ".eml")
    walk.add_attachment(message_bytes(inner), "message/rfc822", filename, extension=".eml")


def _walk_tnef(part: Message, walk: Walk, filename: str | None) -> None:
    data = payload_bytes(part, walk)
    try:
        from tnefparse import TNEF

        tnef = TNEF(data, do_checksum=False)
        files = [attachment for attachment in tnef.attachments if attachment.data]
        for attachment in files:
            name = attachment.long_filename() or attachment.name or None
            if isinstance(name, bytes):
                name = decode_bytes(name, None)
            name = clean_filename(name) if name else None
            guessed = mimetypes.guess_type(name or "")[0] or "application/octet-stream"
            walk.add_attachment(attachment.data, guessed, name)
        body = tnef.body
        if isinstance(body, bytes):
            body = decode_bytes(body, None)
        if body and body.strip() and not walk.pieces:
            walk.pieces.append((body.replace("\r\n", "\n"), None))
        if files:
            return
        walk.defects.append("TnefWithoutFiles")
    except Exception as exc:  # noqa: BLE001 - tnefparse raises on truncated or odd files
        walk.defects.append(f"TnefUnpackFailed:{type(exc).__name__}")
    walk.add_attachment(data, part.get_content_type(), filename or "winmail.dat")


def _walk_pkcs7(part: Message, headers: Headers, walk: Walk, filename: str | None, depth: int) -> None:
    data = payload_bytes(part, walk)
    smime_type = headers.params("content-type").get("smime-type", "").lower()
    content = None if smime_type == "enveloped-data" else signed_content(data)
    if content is not None:
        try:
            inner = message_from_bytes(content, policy=email_policy.compat32)
            walk_mime(inner, walk, depth + 1)
        except Exception as exc:  # noqa: BLE001
            walk.defects.append(f"SmimeContentUnreadable:{type(exc).__name__}")
    else:
        walk.defects.append("SmimeEncrypted" if smime_type == "enveloped-data" else "SmimeUnreadable")
    walk.add_attachment(data, part.get_content_type(), filename or "smime.p7m")
