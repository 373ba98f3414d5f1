"""In Chromium, on the embedded default (SQLite, no Redis): mail brought in by another process shows
up in the open queue without a reload."""
from __future__ import annotations

import time

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from helpdesk import live
from helpdesk.web.console.live import COALESCE_SECONDS
from tests.e2e.conftest import LiveServer, sign_in
from tests.support.installation import PROBE, installation  # noqa: F401 - the fixture


def wait_until_live(page, installation) -> None:
    """The page's event stream subscribes a moment after it opens: send probe events over the relay
    until one makes the queue list re-fetch itself, then let any straggler pass."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with page.expect_response(lambda r: "/console/queues/open" in r.url and r.request.headers.get("hx-request"),
                                      timeout=1000):
                installation.publish(live.queue_channel("all"), PROBE)
            break
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
    page.wait_for_timeout(COALESCE_SECONDS * 1000 + 500)


def test_mail_imported_in_another_process_appears_in_the_open_queue_without_reload(browser, installation):
    url, process = installation.serve()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, LiveServer(url, installation.settings, process))
        page.goto(url + "/console/queues/open")
        page.locator("#queue-section").wait_for()
        assert "Order arrived damaged" not in page.locator("#queue-section").inner_text()
        page.evaluate("window.__noReload = true")
        wait_until_live(page, installation)
        installation.import_mail("Order arrived damaged", sender="olga@example.com")
        page.locator("#queue-list .queue-row", has_text="Order arrived damaged").wait_for(timeout=10000)
        assert page.evaluate("window.__noReload") is True
        assert errors == []
    finally:
        context.close()
