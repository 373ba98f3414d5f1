"""Raw RFC 5322 bytes -> `InboundMessage`. Never raises: bad mail gets a best reading plus defects.

The message is parsed with the `compat32` policy and headers are decoded here rather than by
`email.policy.default`: the default policy raises or substitutes U+FFFD on the broken charsets
real mail carries (gb2312 holding GBK bytes, Shift_JIS holding cp932, raw 8-bit headers,
windows-1258 filenames), and it costs several times more per message.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import html as html_lib
import mimetypes
import re
import unicodedata
import urllib.parse
import uuid
from datetime import datetime, timezone
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from helpdesk.channel import Attachment, Identity, InboundMessage, ThreadKeys
from channels.email.quotes import strip_quotes

__all__ = ["parse", "decode_header_value", "html_to_text"]

_MAX_DEPTH = 40

# --------------------------------------------------------------------------- charsets

# Declared names that lie or that Python spells differently. GB2312 and GBK mail routinely
# carries GB18030 characters; Shift_JIS mail carries Microsoft's cp932 extensions.
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "euc-cn": "gb18030", "gb_2312-80": "gb18030", "csgb2312": "gb18030", "x-euc-cn": "gb18030",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "csshiftjis": "cp932", "windows-31j": "cp932",
    "big5": "big5hkscs", "x-big5": "big5hkscs", "cn-big5": "big5hkscs",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "ks_c_5601": "cp949",
    "iso-8859-8-i": "iso-8859-8", "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874", "tis-620": "cp874",
    "unicode-1-1-utf-7": "utf-7", "x-unicode20utf8": "utf-8", "utf8": "utf-8",
    "iso-2022-jp": "iso2022_jp_ext", "iso2022jp": "iso2022_jp_ext",
    "ansi_x3.4-1968": "ascii", "us-ascii": "ascii", "latin1": "iso-8859-1",
    "x-mac-roman": "mac-roman", "macintosh": "mac-roman",
}
# Single-byte charsets decode any bytes, so valid UTF-8 declared as one of these is
# almost always mislabelled UTF-8: decoding it as declared would produce mojibake.
_SINGLE_BYTE = re.compile(r"^(?:ascii|iso-?8859|latin|cp125|windows-125|koi8|mac-|cp874|cp850|cp437)")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


_MULTIBYTE_FAMILY = {
    # A declared charset vouches for its siblings: Japanese mail mixes ISO-2022-JP bodies with
    # raw Shift_JIS headers, Chinese mail GB2312 with GBK/GB18030.
    "iso2022_jp": ("cp932", "euc_jis_2004"), "iso2022_jp_ext": ("cp932", "euc_jis_2004"),
    "euc_jp": ("euc_jis_2004", "cp932"), "cp932": ("cp932",), "shift_jis": ("cp932",),
    "gb18030": ("gb18030",), "gbk": ("gb18030",), "gb2312": ("gb18030",),
    "big5hkscs": ("big5hkscs",), "big5": ("big5hkscs",), "cp950": ("big5hkscs",),
    "cp949": ("cp949",), "euc_kr": ("cp949",),
}
_WESTERN = frozenset({"ascii", "iso8859-1", "iso8859-15", "cp1252", "latin-1"})
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _cp1252_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    bad = error.object[error.start : error.end]
    return bad.decode("cp1252", "replace").replace("\ufffd", "") or bad.decode("latin-1"), error.end


codecs.register_error("helpdesk-cp1252", _cp1252_fallback)


def _iso2022_jp(data: bytes) -> str | None:
    """ISO-2022-JP as sent by Windows (NEC/IBM rows the strict codec rejects): via EUC."""
    for codec in ("iso2022_jp_ext", "iso2022_jp_2"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    out = bytearray()
    double = False
    index = 0
    while index < len(data):
        sequence = data[index : index + 3]
        if sequence in (b"\x1b$B", b"\x1b$@"):
            double, index = True, index + 3
            continue
        if sequence in (b"\x1b(B", b"\x1b(J"):
            double, index = False, index + 3
            continue
        byte = data[index]
        out.append(byte | 0x80 if double and 0x21 <= byte <= 0x7E else byte)
        index += 1
    try:
        return bytes(out).decode("euc_jis_2004")
    except UnicodeDecodeError:
        return None


def decode_bytes(data: bytes, charset: str | None, defects: list[str] | None = None,
                 hints: tuple[str, ...] = ()) -> str:
    """Decode with the declared charset, then utf-8, cp1252, latin-1: never raises.

    `hints` are other charsets the same message declares; they help with raw 8-bit headers.
    """
    codec = _codec(charset)
    if charset and codec is None and defects is not None and charset.strip().lower() not in (
        "unknown-8bit", "x-unknown", "unknown", "8bit", "default"
    ):
        defects.append(f"UnknownCharset:{charset.strip()[:40]}")
    if b"\x1b$" in data and (codec is None or codec.startswith("iso2022_jp") or data.isascii()):
        text = _iso2022_jp(data)
        if text is not None:
            return text
    if data.isascii():
        if codec == "utf-7" and b"+" in data:
            try:
                return data.decode("utf-7")
            except UnicodeDecodeError:
                pass
        return data.decode("ascii")
    candidates: list[str] = []
    if not (codec and codec.startswith(("utf_16", "utf-16", "utf_32", "utf-32"))):
        # Valid UTF-8 is almost never text in another charset: trusting the label would mojibake.
        candidates.append("utf-8")
    if codec:
        candidates.append(codec)
    candidates.append("utf-8")
    for hint in hints:
        candidates.extend(_MULTIBYTE_FAMILY.get(hint, ()))
    for candidate in dict.fromkeys(candidates):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
    if codec and defects is not None and codec not in ("ascii", "utf-8"):
        defects.append(f"CharsetMismatch:{codec}")
    if _UTF8_SEQUENCE.search(data):
        # Mostly UTF-8 with stray single-byte characters (pasted text, broken converters).
        return data.decode("utf-8", "helpdesk-cp1252")
    if codec and codec in _MULTIBYTE_FAMILY:
        return data.decode(codec, "replace")
    for hint in hints:
        if _SINGLE_BYTE.match(hint) and hint not in _WESTERN:
            return data.decode(hint, "replace")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# --------------------------------------------------------------------------- headers

_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)\?([bBqQ])\?([^?]*(?:\?(?!=)[^?]*)*?)\?=")


def _unescape_raw(value: str, hints: tuple[str, ...] = ()) -> str:
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
    value = _unescape_raw(str(value), hints)
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


def _collapse(value: str) -> str:
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


class _Headers:
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
        return _collapse(decode_header_value(raw.replace("\r", "").replace("\n", ""), self.hints))

    def params(self, name: str) -> dict[str, str]:
        raw = self.raw(name)
        return _params(raw, self.hints) if raw else {}


_EMAIL_TOKEN = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")


def _addresses(raw_values: list[str], hints: tuple[str, ...] = ()) -> list[Identity]:
    """Parse address headers; names are decoded after splitting so encoded commas stay put."""
    found: list[Identity] = []
    for raw in raw_values:
        raw = _unescape_raw(raw, hints).replace("\r", "").replace("\n", " ")
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
            name = _collapse(decode_header_value(name, hints)).strip('"').strip("'").strip()
            found.append(Identity("email", address, name or None))
    return found


_MSG_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")


def _msg_ids(value: str | None) -> list[str]:
    if not value:
        return []
    value = _unescape_raw(value)
    ids = [f"<{m}>" for m in _MSG_ID.findall(value)]
    if not ids:
        ids = [f"<{token.strip('<>')}>" for token in re.findall(r"\S+@\S+", value)]
    return ids


# --------------------------------------------------------------------------- html -> text

_BLOCK_TAGS = frozenset(
    "p div tr table ul ol li h1 h2 h3 h4 h5 h6 pre blockquote address article section "
    "header footer dl dt dd hr form fieldset center".split()
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote = 0
        self.pre = 0

    def _newline(self) -> None:
        self.out.append("\n")

    def _break(self, lines: int = 1) -> None:
        """End the current block: at least `lines` newlines, without piling up blank lines."""
        have = 0
        for chunk in reversed(self.out):
            stripped = chunk.strip(" ")
            if not stripped:
                continue
            have += len(stripped) - len(stripped.rstrip("\n"))
            if stripped.strip("\n"):
                break
        if self.out:
            self.out.append("\n" * max(0, lines - have))

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "br":
            self._newline()
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "blockquote":
                self.quote += 1
            elif tag == "pre":
                self.pre += 1
            elif tag == "li":
                self.out.append("- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(alt)

    def handle_startendtag(self, tag: str, attrs) -> None:  # noqa: ANN001
        if tag in _SKIP_TAGS:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)
            elif tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._break(2 if tag == "p" else 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
        if self.quote:
            # Mark blockquoted history the way plain-text mail does, so quote stripping sees it.
            data = data.replace("\n", "\n" + "> " * self.quote)
            if not self.out or self.out[-1].endswith("\n"):
                data = "> " * self.quote + data.lstrip()
        self.out.append(data)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body: tags dropped, entities decoded, blocks on their own lines."""
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
        text = "".join(extractor.out)
    except Exception:  # noqa: BLE001 - HTMLParser can raise on pathological markup
        text = html_lib.unescape(re.sub(r"<[^>]*>", " ", markup))
    text = text.replace("\xa0", " ")
    lines = [line.strip(" \t") for line in text.split("\n")]
    lines = [line for line in lines if line.strip("> ") or not line.startswith(">")]
    collapsed = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return collapsed.strip()


# --------------------------------------------------------------------------- S/MIME

def _ber_read(data: bytes, offset: int) -> tuple[int, bool, int, int]:
    """One BER TLV header: (tag, constructed, content start, content end or -1 if indefinite)."""
    tag = data[offset]
    constructed = bool(tag & 0x20)
    offset += 1
    if tag & 0x1F == 0x1F:
        while data[offset] & 0x80:
            offset += 1
        offset += 1
    length = data[offset]
    offset += 1
    if length == 0x80:
        return tag, constructed, offset, -1
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    return tag, constructed, offset, offset + length


def _ber_children(data: bytes, start: int, end: int) -> list[tuple[int, bool, int, int, int]]:
    """Children of a constructed value: (tag, constructed, content start, content end, next)."""
    children = []
    offset = start
    while offset < (end if end >= 0 else len(data)):
        if end < 0 and data[offset : offset + 2] == b"\x00\x00":
            break
        tag, constructed, c_start, c_end = _ber_read(data, offset)
        if c_end < 0:
            inner = _ber_children(data, c_start, -1)
            c_end = inner[-1][4] if inner else c_start
            following = c_end + 2
        else:
            following = c_end
        children.append((tag, constructed, c_start, c_end, following))
        offset = following
    return children


def _ber_octets(data: bytes, tag: int, constructed: bool, start: int, end: int) -> bytes:
    if not constructed:
        return data[start:end]
    return b"".join(_ber_octets(data, *child[:4]) for child in _ber_children(data, start, end))


_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")


def _pkcs7_signed_content(der: bytes) -> bytes | None:
    """The encapsulated content of a CMS SignedData blob (RFC 5652), without verifying it."""
    try:
        _, _, start, end = _ber_read(der, 0)
        info = _ber_children(der, start, end)
        if der[info[0][2] : info[0][3]] != _OID_SIGNED_DATA:
            return None
        explicit = _ber_children(der, info[1][2], info[1][3])
        signed = _ber_children(der, explicit[0][2], explicit[0][3])
        encap = _ber_children(der, signed[2][2], signed[2][3])
        if len(encap) < 2:
            return None
        wrapped = _ber_children(der, encap[1][2], encap[1][3])
        return _ber_octets(der, *wrapped[0][:4])
    except (IndexError, ValueError):
        return None


# --------------------------------------------------------------------------- body walk

_DSN_FIELD = re.compile(
    r"^(diagnostic-code|status|action|final-recipient|original-recipient)\s*:\s*(.+(?:\n[ \t].+)*)",
    re.IGNORECASE | re.MULTILINE,
)
_UUENCODE = re.compile(r"^begin [0-7]{3,4} ([^\n]+)\n(.*?)^end[ \t]*$", re.MULTILINE | re.DOTALL)
_FILENAME_LIKE = re.compile(r"^[\w \-.()]{1,100}\.[A-Za-z0-9]{2,5}$")


class _Walk:
    """State gathered while walking the MIME tree of one message."""

    def __init__(self, hints: tuple[str, ...] = ()) -> None:
        self.hints = hints
        # Body parts in order, each (plain text, HTML); an alternative fills both.
        self.pieces: list[tuple[str | None, str | None]] = []
        self.attachments: list[dict] = []
        self.defects: list[str] = []
        self.report = False  # a DSN, MDN or ARF report part was seen
        self.dsn: dict[str, str] = {}
        self.original_headers: list[Message] = []
        self.counter = 0

    def branch(self) -> "_Walk":
        child = _Walk(self.hints)
        child.counter = self.counter
        return child

    def absorb(self, child: "_Walk") -> None:
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


def _clean_filename(name: str) -> str | None:
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("/", "_").replace("\\", "_").strip().strip('"').strip()
    return name[:255] or None


def _filename(headers: _Headers) -> str | None:
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = headers.params(header).get(param)
        if value:
            name = _clean_filename(value)
            if name:
                return name
    return None


def _content_id(headers: _Headers) -> str | None:
    value = headers.raw("content-id")
    if not value:
        return None
    value = _collapse(_unescape_raw(value)).strip().strip("<>").strip()
    return value or None


def _disposition(headers: _Headers) -> str | None:
    value = headers.raw("content-disposition")
    if not value:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def _payload_bytes(part: Message, walk: _Walk) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list):
        # compat32 parses message/* bodies into sub-messages; serialise them back.
        return b"\n".join(_message_bytes(item) for item in payload if isinstance(item, Message))
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001 - broken base64/uuencode
        walk.defects.append(type(exc).__name__)
        data = None
    if data is None:
        data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    return data


def _part_text(part: Message, headers: _Headers, walk: _Walk) -> str:
    data = _payload_bytes(part, walk)
    params = headers.params("content-type")
    text = decode_bytes(data, params.get("charset"), walk.defects, walk.hints)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if params.get("format", "").lower() == "flowed":
        text = _unflow(text, params.get("delsp", "").lower() == "yes")
    return text


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (ending in a space) back into paragraphs."""
    out: list[str] = []
    buffer = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if line.endswith(" ") and line != "-- ":
            buffer += line[:-1] if delsp else line
        else:
            out.append(buffer + line)
            buffer = ""
    if buffer:
        out.append(buffer)
    return "\n".join(out)


def _message_bytes(message: Message) -> bytes:
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


def _walk(part: Message, walk: _Walk, depth: int = 0, resource: bool = False) -> None:
    """Sort one MIME entity into body text, HTML and attachments.

    `resource` marks the non-root parts of multipart/related: they are what the HTML
    embeds, never more body text.
    """
    if depth > _MAX_DEPTH:
        walk.defects.append("MimeTooDeep")
        return
    for defect in getattr(part, "defects", ()):
        walk.defects.append(type(defect).__name__)
    headers = _Headers(part, walk.hints)
    content_type = part.get_content_type()
    maintype = content_type.split("/", 1)[0]
    disposition = _disposition(headers)
    filename = _filename(headers)
    payload = part.get_payload()

    if content_type in _DSN_TYPES:
        walk.report = True
        data = _payload_bytes(part, walk)
        for key, value in _DSN_FIELD.findall(decode_bytes(data, "utf-8")):
            walk.dsn.setdefault(key.lower(), _collapse(value))
        description = headers.text("content-description")
        if not filename and description and len(description) < 60:
            filename = _clean_filename(description + ".txt")
        walk.add_attachment(data, content_type, filename or "delivery-status.txt")
        return
    if content_type in _REPORT_TYPES:
        walk.report = True
        walk.add_attachment(_payload_bytes(part, walk), content_type, filename, extension=".txt")
        return
    if content_type in _HEADERS_TYPES:
        data = _payload_bytes(part, walk)
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
            text = decode_bytes(_payload_bytes(part, walk), headers.params("content-type").get("charset"),
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
            _walk(children[0], walk, depth + 1, resource)
            for signature in children[1:]:
                sig_type = signature.get_content_type()
                name = _filename(_Headers(signature, walk.hints))
                name = name or ("signature.asc" if "pgp" in sig_type else "smime.p7s")
                walk.add_attachment(_payload_bytes(signature, walk), sig_type, name)
        elif content_type == "multipart/related" and children:
            start = headers.params("content-type").get("start", "").strip("<> ")
            root = next((c for c in children if start and _content_id(_Headers(c)) == start), children[0])
            _walk(root, walk, depth + 1, resource)
            for child in children:
                if child is not root:
                    _walk(child, walk, depth + 1, True)
        else:
            for child in children:
                _walk(child, walk, depth + 1, resource)
        return

    is_attachment = resource or disposition == "attachment" or (filename is not None and disposition != "inline")
    if content_type == "text/calendar":
        # Even as an alternative of the body, an invite is something to open, not text to read.
        walk.add_attachment(_payload_bytes(part, walk), content_type, filename or "invite.ics")
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

    walk.add_attachment(_payload_bytes(part, walk), content_type, filename, _content_id(headers), disposition)


def _body_text(pieces: list[tuple[str | None, str | None]]) -> str:
    return "\n".join((text if text is not None else html_to_text(html or "")).rstrip("\n") for text, html in pieces)


def _body_html(pieces: list[tuple[str | None, str | None]]) -> str | None:
    """The HTML rendering; plain parts mixed in (Apple Mail, signatures) are escaped into it."""
    if all(html is None for _, html in pieces):
        return None
    return "\n".join(
        html if html is not None else '<div style="white-space: pre-wrap">' + html_lib.escape(text or "") + "</div>"
        for text, html in pieces
    )


def _walk_alternative(children: list[Message], walk: _Walk, depth: int) -> None:
    """Keep one plain and one HTML rendering; attachments of every branch stay."""
    plain: str | None = None
    rich: str | None = None
    for child in children:
        branch = walk.branch()
        _walk(child, branch, depth + 1)
        walk.absorb(branch)
        if not branch.pieces:
            continue
        if any(html is not None for _, html in branch.pieces):
            rich = _body_html(branch.pieces)  # the last alternative is the preferred one (RFC 2046 5.1.4)
        elif plain is None:
            text = _body_text(branch.pieces)
            plain = text if text.strip() else None
    if plain is not None or rich is not None:
        walk.pieces.append((plain, rich))


def _walk_embedded(part: Message, payload: list, walk: _Walk, filename: str | None) -> None:
    inner = next((item for item in payload if isinstance(item, Message)), None)
    if inner is None:
        walk.add_attachment(_payload_bytes(part, walk), part.get_content_type(), filename)
        return
    walk.original_headers.append(inner)
    if not filename:
        # Named after its subject; bounces often strip it, then the part's own description
        # ("Undelivered Message") is the next best name.
        title = _Headers(inner, walk.hints).text("subject") or _Headers(part, walk.hints).text("content-description")
        if title:
            filename = _clean_filename(title[:200] + ".eml")
    walk.add_attachment(_message_bytes(inner), "message/rfc822", filename, extension=".eml")


def _walk_tnef(part: Message, walk: _Walk, filename: str | None) -> None:
    data = _payload_bytes(part, walk)
    try:
        from tnefparse import TNEF

        tnef = TNEF(data, do_checksum=False)
        files = [attachment for attachment in tnef.attachments if attachment.data]
        for attachment in files:
            name = attachment.long_filename() or attachment.name or None
            if isinstance(name, bytes):
                name = decode_bytes(name, None)
            name = _clean_filename(name) if name else None
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


def _walk_pkcs7(part: Message, headers: _Headers, walk: _Walk, filename: str | None, depth: int) -> None:
    data = _payload_bytes(part, walk)
    smime_type = headers.params("content-type").get("smime-type", "").lower()
    content = None if smime_type == "enveloped-data" else _pkcs7_signed_content(data)
    if content is not None:
        try:
            inner = message_from_bytes(content, policy=email_policy.compat32)
            _walk(inner, walk, depth + 1)
        except Exception as exc:  # noqa: BLE001
            walk.defects.append(f"SmimeContentUnreadable:{type(exc).__name__}")
    else:
        walk.defects.append("SmimeEncrypted" if smime_type == "enveloped-data" else "SmimeUnreadable")
    walk.add_attachment(data, part.get_content_type(), filename or "smime.p7m")


def _extract_uuencoded(text: str, walk: _Walk) -> str:
    """Old clients embed files as uuencode blocks in the body: decode them to attachments."""
    if "begin " not in text:
        return text

    def take(match: re.Match) -> str:
        name = match.group(1).strip()
        decoded = bytearray()
        try:
            for line in match.group(2).split("\n"):
                line = line.rstrip("\r")
                if not line.strip() or line.strip() == "`":
                    continue
                try:
                    decoded += binascii.a2b_uu(line)
                except binascii.Error:
                    # Some encoders drop trailing spaces; pad to the length the first char says.
                    width = 1 + (((ord(line[0]) - 32) & 63) * 4 + 2) // 3
                    decoded += binascii.a2b_uu(line[:width].ljust(width))
        except Exception:  # noqa: BLE001 - not really uuencode: keep the text
            return match.group(0)
        walk.add_attachment(bytes(decoded), mimetypes.guess_type(name)[0] or "application/octet-stream",
                            _clean_filename(name))
        return ""

    return _UUENCODE.sub(take, text)


# --------------------------------------------------------------------------- auto-generated

_BOUNCE_SUBJECT = re.compile(
    r"undeliver(?:ed|able)|returned\s+mail|delivery\s+status\s+notification|mail\s+delivery\s+failed|"
    r"delivery\s+(?:has\s+)?failed|failure\s+notice|unzustellbar|nicht\s+zustellbar|"
    r"delivery\s+failure|non[- ]?delivery|returned\s+to\s+sender|zustellung|"
    r"benachrichtigung\s+zum\s+übermittlungsstatus|warning:\s+could\s+not\s+send",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)@?", re.IGNORECASE)


def _auto_generated(headers: _Headers, sender: Identity, subject: str | None, walk: _Walk,
                    report_type: str) -> tuple[bool, bool]:
    """(auto_generated, looks_like_bounce)."""
    bounce = report_type == "delivery-status" or bool(walk.dsn)
    from_raw = (headers.raw("from") or "").lower()
    if _BOUNCE_SENDER.match(sender.value) or "mailer-daemon" in from_raw:
        if walk.report or walk.original_headers or (subject and _BOUNCE_SUBJECT.search(subject)) \
                or _BOUNCE_SENDER.match(sender.value):
            bounce = True
    if subject and re.match(r"^\s*(?:undeliverable|unzustellbar|undelivered|non remis|delivery status notification"
                            r"|mail delivery failed|returned mail|failure notice|delivery failure)", subject, re.I):
        bounce = True
    mdn = report_type == "disposition-notification" or any(
        a["content_type"] == "message/disposition-notification" for a in walk.attachments
    )
    auto = bounce or mdn or report_type in ("feedback-report",)
    submitted = (headers.text("auto-submitted") or "").lower()
    if submitted and not submitted.startswith("no"):
        auto = True
    if headers.raw("x-autoreply") is not None or headers.raw("x-autorespond") is not None:
        auto = True
    suppress = (headers.text("x-auto-response-suppress") or "").lower()
    if re.search(r"\b(all|oof)\b", suppress):
        auto = True
    if (headers.text("precedence") or "").lower().strip() in ("bulk", "junk", "list", "auto_reply"):
        auto = True
    if headers.raw("list-id") is not None or headers.raw("list-unsubscribe") is not None:
        auto = True
    if any(value.strip() == "<>" for value in headers.all("return-path")):
        auto = True
    if (headers.text("x-autogenerated") or "").lower() in ("reply", "forward", "group", "letter", "mirror", "redirect"):
        auto = True
    return auto, bounce


def _bounce_details(walk: _Walk, text: str) -> tuple[str | None, str | None]:
    original = None
    for headers in walk.original_headers:
        ids = _msg_ids(_Headers(headers).raw("message-id"))
        if ids:
            original = ids[0]
            break
    if original is None:
        match = re.search(r"^\s*>?\s*Message-ID\s*:\s*(<[^<>\s]+>)", text, re.IGNORECASE | re.MULTILINE)
        if match:
            original = match.group(1)
    reason = walk.dsn.get("diagnostic-code")
    if reason:
        reason = re.sub(r"^(?:smtp|x-postfix|x-unix|x-local)\s*;\s*", "", reason, flags=re.IGNORECASE)
    elif walk.dsn.get("status"):
        reason = f"Status {walk.dsn['status']}"
        if walk.dsn.get("action"):
            reason = f"{walk.dsn['action']} ({reason})"
    else:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        for paragraph in paragraphs:
            if re.search(r"fail|error|unknown|reject|denied|not\s+exist|could\s+not|unable|"
                         r"undeliver|nicht|permanent|delay|quota|full", paragraph, re.IGNORECASE):
                reason = _collapse(paragraph)
                break
        else:
            reason = _collapse(paragraphs[0]) if paragraphs else None
    if reason and len(reason) > 300:
        reason = reason[:297].rstrip() + "..."
    return original, reason


# --------------------------------------------------------------------------- entry point

def _synthetic_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()}@missing-message-id>"


def _received_at(headers: _Headers, defects: list[str]) -> datetime:
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


_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")


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


def _charset_hints(message: Message) -> tuple[str, ...]:
    hints: list[str] = []
    for part in message.walk():
        charset = part.get_param("charset")
        if isinstance(charset, tuple):
            charset = charset[2]
        codec = _codec(charset) if isinstance(charset, str) else None
        if codec and codec not in ("ascii", "utf-8") and codec not in hints:
            hints.append(codec)
    # Multi-byte families first: they reject what they cannot read, single-byte ones never do.
    hints.sort(key=lambda codec: codec not in _MULTIBYTE_FAMILY)
    return tuple(hints)


def _parse(raw: bytes, account: str | None, raw_ref: str | None) -> InboundMessage:
    defects: list[str] = []
    prepared = _prepare(raw)
    message = message_from_bytes(prepared, policy=email_policy.compat32)
    if any(type(d).__name__ == "MissingHeaderBodySeparatorDefect" for d in message.defects):
        repaired = _repair_header_block(prepared)
        if repaired is not None:
            message = message_from_bytes(repaired, policy=email_policy.compat32)
            defects.append("RepairedHeaderBlock")
    hints = _charset_hints(message)
    headers = _Headers(message, hints)

    ids = _msg_ids(headers.raw("message-id"))
    external_id = ids[0] if ids else None
    if external_id is None:
        defects.append("MissingMessageId")
        external_id = _synthetic_id(raw)

    sender = None
    for name in ("from", "reply-to", "sender", "return-path"):
        found = _addresses(headers.all(name), hints)
        if found:
            sender = found[0]
            if name != "from":
                defects.append("SenderFromFallbackHeader")
            break
        if name == "from" and headers.raw("from") is None:
            defects.append("MissingFrom")
    if sender is None:
        defects.append("NoSenderAddress")
        sender = Identity("email", "unknown@invalid")

    subject = headers.text("subject")
    cc = tuple(_addresses(headers.all("to") + headers.all("cc"), hints))

    walk = _Walk(hints)
    _walk(message, walk)
    defects.extend(walk.defects)

    html = _body_html(walk.pieces)
    full_text = _body_text(walk.pieces).strip("\n")

    referenced = set(re.findall(r"cid:([^\"'\s>)]+)", html or "", re.IGNORECASE))
    attachments = []
    for item in walk.attachments:
        cid = item["content_id"]
        inline = bool(cid) and (
            cid in referenced or (item["disposition"] != "attachment" and item["content_type"].startswith("image/"))
        )
        attachments.append(Attachment(item["filename"], item["content_type"], item["data"], cid, inline))

    in_reply_to_ids = _msg_ids(headers.raw("in-reply-to"))
    in_reply_to = in_reply_to_ids[0] if in_reply_to_ids else None
    references = []
    for value in headers.all("references"):
        references.extend(_msg_ids(value))
    references = list(dict.fromkeys(references))
    if in_reply_to and in_reply_to not in references:
        references.append(in_reply_to)
    token = re.search(r"\[#(\d+)\]", subject or "")
    thread_keys = ThreadKeys(
        in_reply_to=in_reply_to,
        references=tuple(references),
        ticket_token=int(token.group(1)) if token and len(token.group(1)) < 19 else None,
    )

    report_type = str(message.get_param("report-type") or "").lower() \
        if message.get_content_type() == "multipart/report" else ""
    auto_generated, bounce = _auto_generated(headers, sender, subject, walk, report_type)
    bounce_of = bounce_reason = None
    if bounce:
        bounce_of, bounce_reason = _bounce_details(walk, full_text)

    return InboundMessage(
        channel="email",
        external_id=external_id,
        sender=sender,
        subject=subject,
        text=strip_quotes(full_text),
        html=html,
        attachments=attachments,
        thread_keys=thread_keys,
        received_at=_received_at(headers, defects),
        auto_generated=auto_generated,
        account=account,
        raw_ref=raw_ref,
        cc=cc,
        full_text=full_text,
        defects=tuple(dict.fromkeys(defects)),
        bounce_of=bounce_of,
        bounce_reason=bounce_reason,
    )


def parse(raw: bytes, *, account: str | None = None, raw_ref: str | None = None) -> InboundMessage:
    """Read one raw email. Never raises: on total failure the raw text becomes the body."""
    try:
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raw = str(raw).encode("utf-8", "surrogateescape")
        raw = bytes(raw)
        return _parse(raw, account, raw_ref)
    except Exception as exc:  # noqa: BLE001 - the contract is: never lose a message to a parser bug
        return _unreadable(raw, account, raw_ref, exc)


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
