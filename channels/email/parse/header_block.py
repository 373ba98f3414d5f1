"""Finding the header block: blank lines before it, junk lines before the first header, folded
lines that lost their indentation."""
from __future__ import annotations

import re
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message

_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")


def read_message(raw: bytes, defects: list[str]) -> Message:
    """The message as compat32 reads it, its header block mended first where that helps."""
    prepared = _prepare(raw)
    message = message_from_bytes(prepared, policy=email_policy.compat32)
    if any(type(d).__name__ == "MissingHeaderBodySeparatorDefect" for d in message.defects):
        repaired = _repair_header_block(prepared)
        if repaired is not None:
            message = message_from_bytes(repaired, policy=email_policy.compat32)
            defects.append("RepairedHeaderBlock")
    return message


def _prepare(raw: bytes) -> bytes:
    # Some stores prepend blank lines; without this the headers would read as body.
    stripped = raw.lstrip(b"\r\n")
    return stripped if stripped else raw


def _repair_header_block(raw: bytes) -> bytes | None:
    """Mend a header block the parser gave up on: junk lines before the first header (forwarding
    gateways) and folded lines that lost their leading whitespace. None when there is nothing to mend.
    """
    match = re.search(rb"\r?\n\r?\n", raw)
    head, rest = (raw[: match.start()], raw[match.start():]) if match else (raw, b"")
    lines = head.splitlines(keepends=True)
    bad = [i for i, line in enumerate(lines)
           if not (_HEADER_LINE.match(line) or line[:1] in (b" ", b"\t") or (i == 0 and line.startswith(b"From ")))]
    if not bad or not any(_HEADER_LINE.match(line) for line in lines[bad[0] + 1 :]):
        return None
    fixed: list[bytes] = []
    for index, line in enumerate(lines):
        if index in bad:
            if not any(_HEADER_LINE.match(kept) for kept in fixed):
                continue  # leading junk before the first header
            fixed.append(b" " + line)
        else:
            fixed.append(line)
    return b"".join(fixed) + rest
