"""helpdesk/tickets/attachments.py: what previews, what opens in the browser, what downloads."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from helpdesk.tickets import attachments


@dataclass
class File:
    filename: str
    content_type: str
    size: int = 10


@pytest.mark.parametrize(("content_type", "kind"), [
    ("image/png", "image"), ("IMAGE/JPEG; name=x.jpg", "image"), ("image/gif", "image"), ("image/webp", "image"),
    ("image/svg+xml", "file"), ("image/tiff", "file"), ("application/pdf", "pdf"),
    ("text/plain; charset=utf-8", "text"),
    ("text/html", "file"), ("application/zip", "file"), ("", "file"),
])
def test_kind(content_type, kind):
    assert attachments.kind(content_type) == kind


def test_files_are_grouped_for_the_message_in_order():
    files = [File("a.png", "image/png"), File("b.pdf", "application/pdf"), File("c.txt", "text/plain"),
             File("d.svg", "image/svg+xml"), File("e.jpg", "image/jpeg")]
    grouped = attachments.sort_files(files)
    assert [f.filename for f in grouped.images] == ["a.png", "e.jpg"]
    assert [f.filename for f in grouped.pdfs] == ["b.pdf"]
    assert [f.filename for f in grouped.others] == ["c.txt", "d.svg"]
    assert not attachments.sort_files([])


@pytest.mark.parametrize(("content_type", "media_type", "disposition", "charset"), [
    ("image/png", "image/png", "inline", "utf-8"),
    ("application/pdf", "application/pdf", "inline", "utf-8"),
    ("text/plain", "text/plain", "inline", "utf-8"),
    ("text/plain; charset=ISO-8859-1", "text/plain", "inline", "iso-8859-1"),
    ('text/plain; charset="no-such-charset"', "text/plain", "inline", "utf-8"),
    ('text/plain; charset="utf-8\r\nSet-Cookie: x"', "text/plain", "inline", "utf-8"),
    ("image/svg+xml", "application/octet-stream", "attachment", "utf-8"),
    ("text/html", "application/octet-stream", "attachment", "utf-8"),
    ("application/xhtml+xml", "application/octet-stream", "attachment", "utf-8"),
])
def test_delivery(content_type, media_type, disposition, charset):
    how = attachments.delivery(content_type)
    assert (how.media_type, how.disposition, how.charset) == (media_type, disposition, charset)
    assert how.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in how.headers["Content-Security-Policy"]
    assert attachments.delivery(content_type, download=True).disposition == "attachment"


@pytest.mark.parametrize(("size", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KB"), (5 * 1024 ** 2, "5.0 MB"),
                                            (3 * 1024 ** 3, "3.0 GB")])
def test_human_size(size, text):
    assert attachments.human_size(size) == text
