"""A WhatsApp conversation in Chromium against a real `helpdesk serve`: a customer's message, posted
as Meta's signed webhook, appears live in the agent's queue; the agent answers from the ticket; the
reply reaches the platform (the local simulator, a real HTTP server) and the platform's receipts
show it delivered, then read, without a reload."""
from __future__ import annotations

import json
import time

import httpx
from playwright.sync_api import expect

from channels.social.simulator import module_for, running
from helpdesk.db import make_engine, make_session_factory
from helpdesk.social.accounts import create_account
from tests.conftest import run_sync
from tests.e2e.conftest import signed_in_page

SECRET = "e2e-whatsapp-app-secret"
NUMBER_ID = "106540352242922"
SHOTS = "/tmp/social-shots"


def add_whatsapp_account(settings, api_base_url: str) -> None:
    async def add() -> None:
        engine = make_engine(settings)
        async with make_session_factory(engine)() as session:
            await create_account(session, settings, platform="whatsapp", external_id=NUMBER_ID, name="Shop WhatsApp",
                                 access_token="e2e-token", app_secret=SECRET, verify_token="e2e-verify",
                                 api_base_url=api_base_url, options={"waba_id": "102290129340398"})
        await engine.dispose()

    run_sync(add())


def post_signed(url: str, body: bytes) -> httpx.Response:
    headers = {**module_for("whatsapp").signed_headers("whatsapp", body, SECRET), "content-type": "application/json"}
    return httpx.post(url + "/webhooks/whatsapp", content=body, headers=headers, timeout=10)


def test_a_whatsapp_message_appears_live_and_the_reply_goes_out_delivered_and_read(browser, live_server):
    whatsapp = module_for("whatsapp")
    with running() as (simulator_url, recorder):
        accepted = []  # what the platform answered each send: its message id is what its receipts name
        recorder.on_sent = lambda *send: accepted.append(send)
        add_whatsapp_account(live_server.settings, simulator_url)
        context, page = signed_in_page(browser, live_server, viewport={"width": 1440, "height": 900})
        page.goto(live_server.url + "/console/queues/open")
        page.evaluate("window.__noReload = true")
        time.sleep(1.5)  # the queue's event stream is up

        body = whatsapp.inbound_body("whatsapp", NUMBER_ID, "+4915112345678",
                                     "Hallo! Ist der Sencha wieder lieferbar?", name="Jana Kunde",
                                     message_id="wamid.e2e-first")
        assert post_signed(live_server.url, body).status_code == 200
        row = page.locator("#queue-list li", has_text="Jana Kunde")
        expect(row).to_be_visible(timeout=20000)  # live: no reload
        assert page.evaluate("window.__noReload") is True
        page.screenshot(path=f"{SHOTS}/queue-whatsapp-1440.png", full_page=True)

        row.locator("a.row-link").click()
        page.wait_for_url("**/console/tickets/*")
        expect(page.locator("#timeline")).to_contain_text("Ist der Sencha wieder lieferbar?")
        expect(page.locator("#customer-panel")).to_contain_text("WhatsApp")
        page.locator("#reply-body").fill("Ja, seit heute wieder auf Lager.")
        page.locator("#reply-body").press("Control+Enter")

        deadline = time.monotonic() + 20
        while not recorder.sent(f"/{NUMBER_ID}/messages") and time.monotonic() < deadline:
            time.sleep(0.1)
        [sent] = recorder.sent(f"/{NUMBER_ID}/messages")
        assert sent.json["to"] == "4915112345678" and sent.json["text"]["body"] == "Ja, seit heute wieder auf Lager."
        assert sent.headers["authorization"] == "Bearer e2e-token"
        outbound = page.locator(".message[data-direction='outbound'] [data-delivery]")
        expect(outbound).to_have_attribute("data-delivery", "sent", timeout=15000)

        [(platform, account, request_json, answer_json)] = accepted
        assert (platform, account) == ("whatsapp", NUMBER_ID)
        receipts = whatsapp.receipt_bodies(platform, account, request_json, answer_json)
        assert len(receipts) >= 2  # delivered, read
        for receipt in receipts:
            assert post_signed(live_server.url, receipt).status_code == 200
        expect(outbound).to_have_attribute("data-delivery", "read", timeout=15000)
        page.screenshot(path=f"{SHOTS}/ticket-whatsapp-read-1440.png", full_page=True)
        assert page.errors == []
        context.close()
