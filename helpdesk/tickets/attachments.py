"""Attachments as the console offers them: what previews, what opens in the browser, what downloads.

A file's content type is the sender's claim, so it only ever narrows what we do: a raster image
gets a thumbnail and the viewer, a PDF opens in the browser's own viewer inside a CSP sandbox,
plain text opens with a charset; anything else (HTML, SVG, archives, office files) downloads as
`application/octet-stream`, so nothing from outside runs in our origin. Pure: values in, values out.
"""
from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

# The images the viewer shows and the thumbnailer reads. Never SVG: an SVG is a document that can
# carry script.
RASTER_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PDF = "application/pdf"
TEXT = "text/plain"
DOWNLOAD = "application/octet-stream"
_CHARSET_NAME = re.compile(r"[a-z0-9._:-]{1,40}")
# A file served inline is still a foreign document: a unique origin (sandbox: it cannot read our
# cookies or pages), no script, no requests of its own, never framed. Chromium's and Firefox's PDF
# viewers keep working under it (they are the browser's, not the document's; seen in Chromium 156).
SANDBOX = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'none'"


class FileLike(Protocol):
    content_type: str
    size: int
    filename: str


def media_type(content_type: str | None) -> str:
    """`Image/PNG; name="x.png"` -> `image/png`."""
    return (content_type or "").split(";")[0].strip().lower()


def kind(content_type: str | None) -> str:
    """How the console presents a file: `image` (thumbnail, viewer), `pdf`, `text` or `file` (download)."""
    media = media_type(content_type)
    if media in RASTER_IMAGES:
        return "image"
    if media == PDF:
        return "pdf"
    if media == TEXT:
        return "text"
    return "file"


@dataclass(frozen=True)
class MessageFiles:
    """A message's files in the order the console shows them: a strip of thumbnails, PDF tiles, a list."""

    images: list = field(default_factory=list)
    pdfs: list = field(default_factory=list)
    others: list = field(default_factory=list)  # plain text (opens in a tab) and downloads

    def __bool__(self) -> bool:
        return bool(self.images or self.pdfs or self.others)


def sort_files(files: Iterable[FileLike]) -> MessageFiles:
    grouped = MessageFiles()
    for file in files:
        {"image": grouped.images, "pdf": grouped.pdfs}.get(kind(file.content_type), grouped.others).append(file)
    return grouped


def charset(content_type: str | None) -> str:
    """The charset a text part declared (its IANA name, which browsers know), if it is a real one; UTF-8 otherwise."""
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip().strip('"').lower()
            try:
                return value if _CHARSET_NAME.fullmatch(value) and codecs.lookup(value) else "utf-8"
            except LookupError:
                return "utf-8"
    return "utf-8"


@dataclass(frozen=True)
class Delivery:
    """How the attachment route answers: the Content-Type, inline or attachment, extra headers."""

    media_type: str
    disposition: str  # inline | attachment
    headers: dict[str, str]
    charset: str = "utf-8"  # sent with text types (the response adds it to the Content-Type)


def delivery(content_type: str | None, *, download: bool = False) -> Delivery:
    """Inline only for what a browser shows without running it: raster images, PDF (sandboxed),
    plain text (with its charset); everything else, and anything asked as a download, is a download."""
    media = media_type(content_type)
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": SANDBOX}
    if download or kind(media) == "file":
        return Delivery(DOWNLOAD, "attachment", headers)
    if media == TEXT:
        return Delivery(TEXT, "inline", headers, charset(content_type))
    return Delivery(media, "inline", headers)


def human_size(size: int) -> str:
    """1536 -> '1.5 KB', the way a file manager writes it (1 KB = 1024 bytes)."""
    if size < 1024:
        return f"{size} B"
    amount = float(size)
    for unit in ("KB", "MB"):
        amount /= 1024
        if amount < 1024:
            return f"{amount:.1f} {unit}"
    return f"{amount / 1024:.1f} GB"
