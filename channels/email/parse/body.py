"""The readable body: HTML to text, format=flowed, uuencoded blocks, and how body parts join up."""
from __future__ import annotations

import binascii
import html as html_lib
import re
from html.parser import HTMLParser

from channels.email.parse.charsets import decode_bytes

# One body part as (plain text, HTML); a multipart/alternative fills both.
Piece = tuple[str | None, str | None]

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



def decode_text(data: bytes, params: dict[str, str], defects: list[str], hints: tuple[str, ...]) -> str:
    """A text part's bytes with its Content-Type parameters -> text with newline line ends."""
    text = decode_bytes(data, params.get("charset"), defects, hints)
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


_UUENCODE = re.compile(r"^begin [0-7]{3,4} ([^\n]+)\n(.*?)^end[ \t]*$", re.MULTILINE | re.DOTALL)


def split_uuencoded(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Old clients embed files as uuencode blocks in the body: (text without them, [(name, data)])."""
    files: list[tuple[str, bytes]] = []
    if "begin " not in text:
        return text, files

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
        files.append((name, bytes(decoded)))
        return ""

    return _UUENCODE.sub(take, text), files


def body_text(pieces: list[Piece]) -> str:
    return "\n".join((text if text is not None else html_to_text(html or "")).rstrip("\n") for text, html in pieces)


def body_html(pieces: list[Piece]) -> str | None:
    """The HTML rendering; plain parts mixed in (Apple Mail, signatures) are escaped into it."""
    if all(html is None for _, html in pieces):
        return None
    return "\n".join(
        html if html is not None else '<div style="white-space: pre-wrap">' + html_lib.escape(text or "") + "</div>"
        for text, html in pieces
    )
