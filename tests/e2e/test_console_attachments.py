"""In Chromium: a ticket with photos and a PDF. Thumbnails show, the viewer shows each image at its
natural size inside the window, ←/→ and the buttons walk the ticket's images, Esc closes it and the
focus is back on the thumbnail; the PDF opens in the browser's own viewer in a new tab."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from helpdesk.channel import Attachment, Identity, InboundMessage, ThreadKeys
from tests.conftest import run_sync
from tests.e2e.conftest import live_server, sign_in  # noqa: F401 - fixtures
from tests.e2e.test_content_security_policy import RECORD_VIOLATIONS
from tests.support import images


async def _seed(settings) -> dict:
    """Ann's ticket: a first mail with two photos and a PDF, a second with one more photo."""
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest

    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    now = datetime.now(timezone.utc)
    ann = Identity("email", "ann@example.com", "Ann Example")

    def mail(external_id, text, files, *, minutes_ago, in_reply_to=None):
        keys = ThreadKeys(in_reply_to=in_reply_to, references=(in_reply_to,) if in_reply_to else ())
        return InboundMessage(channel="email", external_id=external_id, sender=ann, subject="Cracked teapot",
                              text=text, html=None, attachments=files, thread_keys=keys,
                              received_at=now - timedelta(minutes=minutes_ago), account="support@shop.test")

    async with sessions() as session:
        first = await ingest(session, mail("<photos@example.com>", "Photos of the teapot and the invoice.", [
            Attachment("spout.png", "image/png", images.png(640, 480)),
            Attachment("box.jpg", "image/jpeg", images.jpeg(2400, 1800)),
            Attachment("invoice.pdf", "application/pdf", images.pdf()),
        ], minutes_ago=10), settings=settings)
    async with sessions() as session:
        await ingest(session, mail("<lid@example.com>", "And the lid.", [
            Attachment("lid.png", "image/png", images.png(300, 500)),
        ], minutes_ago=5, in_reply_to="<photos@example.com>"), settings=settings)
    await engine.dispose()
    return {"ticket_id": first.ticket_id}


@pytest.fixture
def ticket(live_server):  # noqa: F811
    return run_sync(_seed(live_server.settings))


def open_ticket(browser, server, ticket, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.add_init_script(RECORD_VIOLATIONS)  # the viewer runs under the console's CSP: no inline script
    sign_in(page, server)
    page.goto(f"{server.url}/console/tickets/{ticket['ticket_id']}")
    page.locator("#timeline .file-thumb").first.wait_for()
    return context, page


def shown(page) -> dict:
    return page.evaluate("""() => {
        const image = document.getElementById('attachment-viewer-image');
        const box = image.getBoundingClientRect();
        return {open: document.getElementById('attachment-viewer').open, complete: image.complete,
                natural: [image.naturalWidth, image.naturalHeight], rendered: [box.width, box.height],
                inside: box.left >= 0 && box.top >= 0 && box.right <= innerWidth && box.bottom <= innerHeight,
                title: document.getElementById('attachment-viewer-title').textContent,
                position: document.getElementById('attachment-viewer-position').textContent,
                download: document.getElementById('attachment-viewer-download').getAttribute('href')};
    }""")


def wait_for_image(page, filename: str) -> dict:
    page.wait_for_function("""name => {
        const image = document.getElementById('attachment-viewer-image');
        return document.getElementById('attachment-viewer-title').textContent === name
            && image.complete && image.naturalWidth > 0;
    }""", arg=filename, timeout=10000)
    return shown(page)


def closed_on(page, filename: str) -> None:
    """The viewer closed and the focus is on `filename`'s thumbnail (the browser first restores it to
    the thumbnail that opened the viewer; the close event, a task later, moves it)."""
    page.wait_for_function("""name => !document.getElementById('attachment-viewer').open
        && document.activeElement.matches('a.file-thumb') && document.activeElement.dataset.filename === name""",
                           arg=filename, timeout=5000)


def test_thumbnails_open_a_viewer_that_walks_the_tickets_images_and_closes_back(browser, live_server,  # noqa: F811
                                                                                ticket):
    context, page = open_ticket(browser, live_server, ticket, {"width": 1280, "height": 800})
    try:
        thumbs = page.locator("#timeline a.file-thumb")
        assert [t.get_attribute("data-filename") for t in thumbs.all()] == ["spout.png", "box.jpg", "lid.png"]
        first = thumbs.first.locator("img")
        first.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=first.element_handle())
        # the thumbnail, not the photo
        assert first.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [320, 240]
        assert first.bounding_box()["width"] == 160 and first.get_attribute("alt") == "spout.png"
        tile = page.locator("#timeline a.file-tile[data-kind=pdf]")
        assert tile.is_visible() and "invoice.pdf" in tile.inner_text() and "KB" in tile.inner_text()
        assert not page.locator("#attachment-viewer").is_visible()

        thumbs.first.click()
        state = wait_for_image(page, "spout.png")
        assert state["open"] and state["natural"] == [640, 480] and state["rendered"] == [640, 480]  # natural size
        assert state["position"].startswith("1 of 3") and state["download"].endswith("?download=1")
        page.keyboard.press("ArrowRight")
        state = wait_for_image(page, "box.jpg")
        assert state["natural"] == [2400, 1800] and state["inside"]  # larger than the window: shrunk to fit
        assert state["rendered"][0] < 2400 and abs(state["rendered"][0] / state["rendered"][1] - 4 / 3) < 0.01
        page.locator("#attachment-viewer-next").click()  # on into the next message's photo
        state = wait_for_image(page, "lid.png")
        assert state["position"].startswith("3 of 3") and page.locator("#attachment-viewer-next").is_hidden()
        page.locator("#attachment-viewer-prev").click()
        assert wait_for_image(page, "box.jpg")["position"].startswith("2 of 3")

        posts, status = [], page.locator("#ticket-status").inner_text()
        page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
        page.keyboard.press("s")  # the console's "solve" shortcut does not act behind the viewer
        page.wait_for_timeout(500)
        assert posts == [] and page.locator("#ticket-status").inner_text() == status != "solved"
        page.keyboard.press("Escape")
        closed_on(page, "box.jpg")  # back on the thumbnail of the image last shown, not the one clicked

        # the keyboard alone: Enter on the focused thumbnail opens, the Close button closes
        page.keyboard.press("Enter")
        assert wait_for_image(page, "box.jpg")["open"]
        page.locator("#attachment-viewer-close").click()
        closed_on(page, "box.jpg")
        assert page.errors == [] and page.evaluate("window.__violations") == []
    finally:
        context.close()


def test_the_pdf_opens_in_the_browsers_viewer_in_a_new_tab(browser, live_server, ticket):  # noqa: F811
    context, page = open_ticket(browser, live_server, ticket, {"width": 1280, "height": 800})
    try:
        with context.expect_page() as opened:
            page.locator("#timeline a.file-tile[data-kind=pdf]").click()
        pdf = opened.value
        pdf.wait_for_load_state()
        assert pdf.url.startswith(f"{live_server.url}/console/attachments/")
        assert pdf.evaluate("document.contentType") == "application/pdf"
        assert not page.locator("#attachment-viewer").is_visible()  # the console stays as it was
    finally:
        context.close()


def test_the_viewer_fits_a_phone(browser, live_server, ticket):  # noqa: F811
    context, page = open_ticket(browser, live_server, ticket, {"width": 390, "height": 844})
    try:
        thumb = page.locator("#timeline a.file-thumb[data-filename='box.jpg']")
        thumb.scroll_into_view_if_needed()
        thumb.click()
        state = wait_for_image(page, "box.jpg")
        assert state["inside"] and state["rendered"][0] <= 390
        for button in ("#attachment-viewer-prev", "#attachment-viewer-next", "#attachment-viewer-close"):
            box = page.locator(button).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] >= 36, button
        page.locator("#attachment-viewer-next").click()
        assert wait_for_image(page, "lid.png")["inside"]
        page.mouse.click(195, 835)  # a tap beside the image closes, as in a phone's photo viewer
        closed_on(page, "lid.png")
        assert page.errors == []
    finally:
        context.close()
