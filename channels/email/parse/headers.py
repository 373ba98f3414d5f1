"""Header values: RFC 2047 encoded words, raw 8-bit bytes, parameters, addresses, message ids, dates."""
from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from datetime import datetime, timezone
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from helpdesk.channel import Identity, ThreadKeys
from channels.email.parse.charsets import decode_bytes

_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)\?([bBqQ])\?([^?]*(?:\?(?!=)[^?]*)*?)\?=")


def unescape_raw(value: str, hints: tuple[str, ...] = ()) -> str:
    """Header text as parsed holds raw 8-bit bytes as surrogates: decode them utf-8, then cp1252."""
    if value.isascii():
        return value
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already real text
    return decode_bytes(raw, None, hints=hints)


def _decode_word(charset: str, encoding: str, text: str) -> bytes:
    if encoding in "bB":
        compact = re.sub(r"[^A-Za-z0-9+/]", "", text)
        compact += "=" * (-len(compact) % 4)
        try:
            return base64.b64decode(compact)
        except (binascii.Error, ValueError):
            return text.encode("ascii", "replace")
    return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)


def decode_header_value(value: str | None, hints: tuple[str, ...] = ()) -> str:
    """RFC 2047 encoded words and raw 8-bit bytes -> text, tolerant of the usual violations."""
    if not value:
        return ""
    value = unescape_raw(str(value), hints)
    if "=?" not in value:
        return value
    chunks: list[tuple[str, bytes | str]] = []  # (charset or "", bytes for encoded / str for plain)
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        # Whitespace between two encoded words is not part of the text (RFC 2047 section 6.2).
        if between and not (between.isspace() and chunks and chunks[-1][0]):
            chunks.append(("", between))
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix: =?utf-8*en?Q?...?=
        data = _decode_word(charset, match.group(2), match.group(3))
        if chunks and chunks[-1][0] and chunks[-1][0].lower() == charset.lower():
            # A multi-byte character may be split across two encoded words.
            chunks[-1] = (chunks[-1][0], chunks[-1][1] + data)  # type: ignore[operator]
        else:
            chunks.append((charset, data))
        position = match.end()
    if position < len(value):
        chunks.append(("", value[position:]))
    return "".join(
        decode_bytes(part, charset, hints=hints) if charset else part  # type: ignore[arg-type]
        for charset, part in chunks
    )


def collapse(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


_PARAM = re.compile(r';\s*([^=;\s"]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)')
_CONTINUATION = re.compile(r"^(.+?)\*(?:(\d+)(\*)?|)$")


def _params(raw: str, hints: tuple[str, ...] = ()) -> dict[str, str]:
    """Parameters of a structured header, lower-cased names, RFC 2231 continuations joined.

    Read from the raw value so 8-bit filenames keep their bytes (compat32 would turn them
    into U+FFFD before we could decode them).
    """
    raw = raw.replace("\r", "").replace("\n", "")
    plain: dict[str, str] = {}
    pieces: dict[str, dict[int, tuple[str, bool]]] = {}
    for match in _PARAM.finditer(raw):
        name = match.group(1).strip().lower()
        value = match.group(2).strip()
        if value.startswith('"'):
            value = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
            value = re.sub(r"\\(.)", r"\1", value)
        continued = _CONTINUATION.match(name)
        if continued:
            index = int(continued.group(2)) if continued.group(2) else 0
            encoded = continued.group(2) is None or bool(continued.group(3))
            pieces.setdefault(continued.group(1), {}).setdefault(index, (value, encoded))
        else:
            plain.setdefault(name, value)
    result = {name: decode_header_value(value, hints).strip() for name, value in plain.items()}
    for name, parts in pieces.items():
        charset = None
        data = bytearray()
        for position, index in enumerate(sorted(parts)):
            value, encoded = parts[index]
            if encoded:
                if position == 0 and value.count("'") >= 2:
                    charset, _, value = value.split("'", 2)
                data += urllib.parse.unquote_to_bytes(value)
            else:
                data += value.encode("utf-8", "surrogateescape")
        text = decode_bytes(bytes(data), charset or None, hints=hints)
        result[name] = decode_header_value(text, hints).strip() if "=?" in text else text.strip()
    return result


class Headers:
    """Case-insensitive access to the raw header values of one part."""

    def __init__(self, part: Message, hints: tuple[str, ...] = ()) -> None:
        self.hints = hints
        self._values: dict[str, list[str]] = {}
        for name, value in part.raw_items():
            if not isinstance(value, str):
                value = str(value)
            self._values.setdefault(name.strip().lower(), []).append(value)

    def raw(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return self._values.get(name, [])

    def text(self, name: str) -> str | None:
        raw = self.raw(name)
        if raw is None:
            return None
        return collapse(decode_header_value(raw.replace("\r", "").replace("\n", ""), self.hints))

    def params(self, name: str) -> dict[str, str]:
        raw = self.raw(name)
        return _params(raw, self.hints) if raw else {}


_EMAIL_TOKEN = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")


def addresses(raw_values: list[str], hints: tuple[str, ...] = ()) -> list[Identity]:
    """Parse address headers; names are decoded after splitting so encoded commas stay put."""
    found: list[Identity] = []
    for raw in raw_values:
        raw = unescape_raw(raw, hints).replace("\r", "").replace("\n", " ")
        try:
            pairs = getaddresses([raw])
        except Exception:  # noqa: BLE001 - getaddresses has raised on hostile input
            pairs = []
        pairs = [(n, a) for n, a in pairs if a or n]
        if not pairs or any("@" not in a or " " in a.strip() for _, a in pairs) and _EMAIL_TOKEN.search(raw):
            # Unquoted names with specials ("Test test@x.com", "Smith, Bob <b@x>") confuse
            # the RFC parser; fall back to picking out what looks like an address.
            pairs = []
            for chunk in re.split(r"[,;](?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", raw):
                token = None
                angled = re.search(r"<([^<>]*@[^<>]*)>", chunk)
                if angled:
                    token = angled.group(1)
                    name = chunk[: angled.start()]
                else:
                    matches = _EMAIL_TOKEN.findall(chunk)
                    if matches:
                        token = matches[-1]
                        name = chunk.replace(token, "")
                if token:
                    pairs.append((name.strip().strip('"').strip(), token))
        for name, address in pairs:
            address = address.strip().strip("<>").strip().strip("'\"").lower()
            if "@" not in address:
                continue
            name = collapse(decode_header_value(name, hints)).strip('"').strip("'").strip()
            found.append(Identity("email", address, name or None))
    return found


_MSG_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")


def msg_ids(value: str | None) -> list[str]:
    if not value:
        return []
    value = unescape_raw(value)
    ids = [f"<{m}>" for m in _MSG_ID.findall(value)]
    if not ids:
        ids = [f"<{token.strip('<>')}>" for token in re.findall(r"\S+@\S+", value)]
    return ids



def received_at(headers: Headers, defects: list[str]) -> datetime:
    value = headers.text("date")
    if not value:
        defects.append("MissingDate")
        return datetime.now(timezone.utc)
    candidates = [value, value.split(",(")[0], re.sub(r"\([^)]*\)", "", value)]
    if "," in value:
        candidates.append(",".join(value.split(",")[:2]))
    for candidate in candidates:
        try:
            parsed = parsedate_to_datetime(candidate.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if parsed is None:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)  # "-0000": UTC, zone unknown (RFC 5322 3.3)
        try:
            return parsed.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            continue
    defects.append("InvalidDate")
    return datetime.now(timezone.utc)



def sender_of(headers: Headers, defects: list[str]) -> Identity:
    """From, else the first of Reply-To, Sender, Return-Path that holds an address."""
    for name in ("from", "reply-to", "sender", "return-path"):
        found = addresses(headers.all(name), headers.hints)
        if found:
            if name != "from":
                defects.append("SenderFromFallbackHeader")
            return found[0]
        if name == "from" and headers.raw("from") is None:
            defects.append("MissingFrom")
    defects.append("NoSenderAddress")
    return Identity("email", "unknown@invalid")


def thread_keys_of(headers: Headers, subject: str | None) -> ThreadKeys:
    in_reply_to_ids = msg_ids(headers.raw("in-reply-to"))
    in_reply_to = in_reply_to_ids[0] if in_reply_to_ids else None
    references = []
    for value in headers.all("references"):
        references.extend(msg_ids(value))
    references = list(dict.fromkeys(references))
    if in_reply_to and in_reply_to not in references:
        references.append(in_reply_to)
    token = re.search(r"\[#(\d+)\]", subject or "")
    return ThreadKeys(
        in_reply_to=in_reply_to,
        references=tuple(references),
        ticket_token=int(token.group(1)) if token and len(token.group(1)) < 19 else None,
    )
