"""Finding the header block: blank lines before it, junk lines before the first header, folded
lines that lost their indentation, obsolete `Name : value` syntax; and input that has none."""
from __future__ import annotations

import re
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message

from helpdesk.channel import UnreadablePayload

_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
# RFC 5322 4.5 (obs-optional): whitespace between a field name and its colon.
_OBSOLETE_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:")
# A message has at least one of these; input without any is not mail (RFC 5322 3.6 requires
# From and Date, every MTA adds Received or Return-Path; the rest are what odd mail keeps).
_MESSAGE_HEADERS = frozenset(
    {"from", "sender", "reply-to", "return-path", "message-id", "date", "subject", "received"}
)


def read_message(raw: bytes, defects: list[str]) -> Message:
    """The message as compat32 reads it, its header block mended first where that helps.

    Raises `UnreadablePayload` when the input has no header block that names a message.
    """
    prepared = _prepare(raw)
    message = message_from_bytes(prepared, policy=email_policy.compat32)
    if any(type(d).__name__ == "MissingHeaderBodySeparatorDefect" for d in message.defects):
        repaired = _repair_header_block(prepared)
        if repaired is not None:
            message = message_from_bytes(repaired, policy=email_policy.compat32)
            defects.append("RepairedHeaderBlock")
    names = list(dict.fromkeys(str(name).strip() for name, _ in message.raw_items()))
    if not any(name.lower() in _MESSAGE_HEADERS for name in names):
        raise UnreadablePayload(_not_an_email(raw, names))
    return message


def _prepare(raw: bytes) -> bytes:
    # Some stores prepend blank lines; without this the headers would read as body.
    stripped = raw.lstrip(b"\r\n")
    return stripped if stripped else raw


def _repair_header_block(raw: bytes) -> bytes | None:
    """Mend a header block the parser gave up on: junk lines before the first header (forwarding
    gateways), folded lines that lost their leading whitespace, and obsolete whitespace before a
    field name's colon. None when there is nothing to mend.
    """
    match = re.search(rb"\r?\n\r?\n", raw)
    head, rest = (raw[: match.start()], raw[match.start():]) if match else (raw, b"")
    lines = head.splitlines(keepends=True)
    bad = [i for i, line in enumerate(lines)
           if not (_HEADER_LINE.match(line) or line[:1] in (b" ", b"\t") or (i == 0 and line.startswith(b"From ")))]
    if bad and not any(_HEADER_LINE.match(line) for line in lines[bad[0] + 1 :]):
        return None
    if not bad and not any(_OBSOLETE_NAME.match(line) for line in lines):
        return None
    fixed: list[bytes] = []
    for index, line in enumerate(lines):
        if index in bad:
            if not any(_HEADER_LINE.match(kept) for kept in fixed):
                continue  # leading junk before the first header
            fixed.append(b" " + line)
        else:
            fixed.append(_OBSOLETE_NAME.sub(rb"\1:", line, count=1))
    return b"".join(fixed) + rest


# First bytes of files that end up where mail is expected (an export instead of the message).
_FILE_SIGNATURES = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE compound file, e.g. an Outlook .msg"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "gzip data"),
)


def _not_an_email(raw: bytes, header_names: list[str]) -> str:
    """Why the input is not mail, in words an admin looking at the quarantine can act on."""
    if not raw:
        return "not an email: empty input (0 bytes)"
    size = f"{len(raw):,} bytes"
    if not raw.strip():
        return f"not an email: nothing but blank space ({size})"
    if header_names:
        listed = ", ".join(header_names[:6]) + (", ..." if len(header_names) > 6 else "")
        return (f"not an email: its headers ({listed}) name no sender, date, subject or message id "
                f"({size} of {_describe(raw)})")
    return f"not an email: no header block and no sender ({size} of {_describe(raw)})"


def _describe(raw: bytes) -> str:
    for signature, name in _FILE_SIGNATURES:
        if raw.startswith(signature):
            return f"binary data: {name}"
    sample = raw[:4096]
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in b"\t\n\r\f" or byte == 0x7F)
    if b"\x00" in sample or controls > len(sample) // 20:
        return "binary data"
    first_line = sample.strip().split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    return f"text starting {first_line[:40]!r}"
