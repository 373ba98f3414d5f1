"""A message's files in the console: thumbnails (made once, cached, never a 500), the viewer's full
image, PDFs and text inline in a sandbox, everything else a download; signed-in agents only."""
from __future__ import annotations

import io
import re
import time
from dataclasses import replace

from litestar.testing import AsyncTestClient
from PIL import Image
from sqlalchemy import select

from helpdesk import thumbnails
from helpdesk.channel import Attachment as InAttachment
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Attachment
from tests.factories import inbound
from tests.support import images
from tests.support.console import app, client, shop, sign_in  # noqa: F401

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


async def with_files(session, settings, *files: InAttachment, html: str | None = None) -> dict[str, Attachment]:
    """A customer's mail carrying `files`; returns its attachment rows by filename."""
    message = replace(inbound(sender="ann@example.com", subject="Photos of the damage"), attachments=list(files),
                      html=html)
    result = await ingest(session, message, settings=settings)
    rows = await session.scalars(select(Attachment).where(Attachment.message_id == result.message_id))
    return {a.filename: a for a in rows} | {"ticket_id": result.ticket_id}


def thumbnail_url(attachment: Attachment) -> str:
    return f"/console/attachments/{attachment.id}/thumbnail/{attachment.sha256}"


async def test_the_message_shows_thumbnails_pdf_tiles_and_download_links(client, session, settings):
    files = await with_files(session, settings,
                             InAttachment("spout.png", "image/png", images.png(800, 600)),
                             InAttachment("box.jpg", "image/jpeg", images.jpeg(1600, 1200)),
                             InAttachment("invoice.pdf", "application/pdf", images.pdf()),
                             InAttachment("notes.txt", "text/plain", b"cracked on arrival"),
                             InAttachment("drawing.svg", "image/svg+xml", SVG),
                             InAttachment("logs.zip", "application/zip", b"PK\x03\x04" + b"\x00" * 3000))
    await sign_in(client)
    page = (await client.get(f"/console/tickets/{files['ticket_id']}")).text
    thumbs = re.findall(r'<a class="file-thumb"[^>]*>\s*<img [^>]*>', page)
    assert len(thumbs) == 2
    for name in ("spout.png", "box.jpg"):
        [thumb] = [t for t in thumbs if f'data-filename="{name}"' in t]
        assert f'src="{thumbnail_url(files[name])}"' in thumb and f'alt="{name}"' in thumb
        assert 'width="160" height="120" loading="lazy"' in thumb
        assert f'href="/console/attachments/{files[name].id}"' in thumb
    tile = re.search(r'<a class="file-tile"[^>]*data-kind="pdf".*?</a>', page, re.S).group(0)
    assert "invoice.pdf" in tile and "PDF" in tile and "9.4 KB" in tile and 'target="_blank"' in tile
    # SVG is no image to us: a download, never a thumbnail or the viewer
    for name in ("drawing.svg", "logs.zip"):
        assert re.search(rf'<a href="/console/attachments/{files[name].id}"[^>]*\bdownload data-kind="file">{name}', page)
    notes = files["notes.txt"].id
    assert re.search(rf'<a href="/console/attachments/{notes}"[^>]*target="_blank"[^>]*data-kind="text">notes.txt', page)
    assert "2.9 KB" in page and 'id="attachment-viewer"' in page and "/static/attachments.js" in page


async def test_an_image_the_body_shows_inline_is_not_repeated_as_a_thumbnail(client, session, settings):
    files = await with_files(session, settings,
                             InAttachment("logo.png", "image/png", images.png(120, 40), content_id="<logo1>",
                                          inline=True),
                             InAttachment("crack.png", "image/png", images.png(640, 480)),
                             html='<p>Our logo <img src="cid:logo1" alt="logo"></p>')
    await sign_in(client)
    page = (await client.get(f"/console/tickets/{files['ticket_id']}")).text
    assert f'src="/console/attachments/{files["logo.png"].id}"' in page  # in the body
    assert 'data-filename="crack.png"' in page and 'data-filename="logo.png"' not in page


async def test_thumbnails_are_smaller_images_of_the_right_type_made_once(client, session, settings):
    png, jpeg = images.png(800, 600), images.jpeg(4000, 3000, orientation=6)
    files = await with_files(session, settings, InAttachment("spout.png", "image/png", png),
                             InAttachment("photo.jpg", "image/jpeg", jpeg))
    await sign_in(client)
    for name, data, size in (("spout.png", png, (320, 240)), ("photo.jpg", jpeg, (240, 320))):
        response = await client.get(thumbnail_url(files[name]))
        assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
        assert response.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"].startswith("inline")
        with Image.open(io.BytesIO(response.content)) as thumb:
            assert thumb.format == "WEBP" and thumb.size == size  # the JPEG's EXIF says: portrait
        assert len(response.content) < len(data) / 4
        cached = thumbnails.thumbnail_path(settings.thumbnails_dir, files[name].sha256)
        assert cached.read_bytes() == response.content
    # a second request is the file on disk: removing the original does not matter to it
    made = cached.stat().st_mtime_ns
    assert (await client.get(thumbnail_url(files["photo.jpg"]))).content == cached.read_bytes()
    assert cached.stat().st_mtime_ns == made
    # the URL names the file's bytes: another sha256 is no thumbnail of this attachment
    assert (await client.get(f"/console/attachments/{files['spout.png'].id}/thumbnail/{'0' * 64}")).status_code == 404


async def test_corrupt_images_and_decompression_bombs_get_a_placeholder_fast_not_a_500(client, session, settings):
    files = await with_files(session, settings, InAttachment("cut.png", "image/png", images.corrupt_png()),
                             InAttachment("bomb.png", "image/png", images.bomb_png()),
                             InAttachment("big.png", "image/png", images.bomb_png(8000, 8000)),
                             InAttachment("fake.jpg", "image/jpeg", b"<html><script>alert(1)</script></html>"))
    await sign_in(client)
    for name in ("cut.png", "bomb.png", "big.png", "fake.jpg"):
        started = time.perf_counter()
        response = await client.get(thumbnail_url(files[name]))
        assert time.perf_counter() - started < 1, name
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("image/svg+xml") and b"No preview" in response.content
        assert "immutable" not in response.headers["cache-control"]
    # the viewer's full image is the stored bytes under their claimed image type, never sniffed as HTML
    fake = await client.get(f"/console/attachments/{files['fake.jpg'].id}")
    assert fake.headers["content-type"] == "image/jpeg" and fake.headers["x-content-type-options"] == "nosniff"


async def test_only_raster_images_are_inline_images_and_svg_or_html_never_are(client, session, settings):
    files = await with_files(session, settings, InAttachment("spout.png", "image/png", images.png(80, 60)),
                             InAttachment("drawing.svg", "image/svg+xml", SVG),
                             InAttachment("page.html", "text/html", b"<script>alert(1)</script>"),
                             InAttachment("page.xhtml", "application/xhtml+xml", b"<script>alert(1)</script>"))
    await sign_in(client)
    image = await client.get(f"/console/attachments/{files['spout.png'].id}")
    assert image.headers["content-type"] == "image/png" and image.headers["content-disposition"].startswith("inline")
    for name in ("drawing.svg", "page.html", "page.xhtml"):
        response = await client.get(f"/console/attachments/{files[name].id}")
        assert response.headers["content-type"] == "application/octet-stream", name
        assert response.headers["content-disposition"].startswith("attachment"), name
        assert response.headers["x-content-type-options"] == "nosniff"
    assert (await client.get(thumbnail_url(files["drawing.svg"]))).status_code == 404
    download = await client.get(f"/console/attachments/{files['spout.png'].id}?download=1")
    assert download.headers["content-disposition"].startswith("attachment") and download.content == images.png(80, 60)


async def test_pdf_and_text_open_inline_in_a_sandbox_other_files_download(client, session, settings):
    files = await with_files(session, settings, InAttachment("invoice.pdf", "application/pdf", images.pdf()),
                             InAttachment("notes.txt", "text/plain; charset=iso-8859-1", "Grüße".encode("latin-1")),
                             InAttachment("logs.zip", "application/zip", b"PK\x03\x04"))
    await sign_in(client)
    pdf = await client.get(f"/console/attachments/{files['invoice.pdf'].id}")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'inline; filename="invoice.pdf"'
    policy = pdf.headers["content-security-policy"]
    assert policy.startswith("sandbox") and "allow-scripts" not in policy and "allow-same-origin" not in policy
    assert pdf.headers["x-content-type-options"] == "nosniff"
    text = await client.get(f"/console/attachments/{files['notes.txt'].id}")
    assert text.headers["content-type"] == "text/plain; charset=iso-8859-1" and text.text == "Grüße"
    assert text.headers["content-disposition"].startswith("inline")
    assert text.headers["x-content-type-options"] == "nosniff"
    archive = await client.get(f"/console/attachments/{files['logs.zip'].id}")
    assert archive.headers["content-type"] == "application/octet-stream"
    assert archive.headers["content-disposition"] == 'attachment; filename="logs.zip"'


async def test_files_and_thumbnails_are_for_signed_in_agents_only(app, shop, session, settings):  # noqa: F811
    files = await with_files(session, settings, InAttachment("spout.png", "image/png", images.png(400, 300)))
    async with AsyncTestClient(app=app) as anonymous:
        for url in (thumbnail_url(files["spout.png"]), f"/console/attachments/{files['spout.png'].id}"):
            response = await anonymous.get(url, follow_redirects=False)
            assert response.status_code in (302, 303) and response.headers["location"].startswith("/console/login")
            assert b"PNG" not in response.content and b"WEBP" not in response.content
    # nothing was decoded for the anonymous request
    assert not thumbnails.thumbnail_path(settings.thumbnails_dir, files["spout.png"].sha256).exists()
