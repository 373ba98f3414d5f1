"""The webhooks admin screen in Chromium, against `helpdesk serve` (its in-process worker sends the
deliveries) and a real receiver on 127.0.0.1: add an endpoint, copy the secret shown once, send a
test event, see the answer; a failing receiver's answer shows escaped, with the next attempt."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import signed_in_page
from tests.integration.test_outbound_webhooks import Receiver

SHOTS = os.environ.get("HELPDESK_SHOTS", "/tmp/webhooks-admin-shots")


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def shot(page, name: str) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_admin_adds_an_endpoint_and_sees_deliveries(browser, live_server, receiver, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the screen is the same on PostgreSQL (tests/integration/test_outbound_webhooks.py)")
    context, page = signed_in_page(browser, live_server, email="alex@shop.test")
    page.goto(live_server.url + "/console/admin/webhooks")
    expect(page.locator("#no-webhooks")).to_be_visible()
    page.get_by_label("URL").fill("ftp://example.com/hooks")
    page.get_by_label("ticket.created").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#admin-error")).to_contain_text("http://")
    shot(page, "1-refused")

    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("CRM sync")
    page.get_by_label("message.created").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#new-webhook-secret")
    expect(secret).to_contain_text("whsec_")
    shot(page, "2-secret-once")

    receiver.answers = [(200, '{"received": true}')]
    page.get_by_role("button", name="Send test event").click()
    expect(page.locator("#admin-notice")).to_contain_text("Test event queued")
    page.wait_for_timeout(1500)  # the server's worker sends it
    page.goto(live_server.url + "/console/admin/webhooks")
    expect(page.locator("#new-webhook-secret")).to_have_count(0)  # shown once
    row = page.locator("table.webhook-deliveries tbody tr").first
    expect(row).to_have_attribute("data-status", "delivered")
    expect(row).to_contain_text("HTTP 200")

    receiver.answers = [(500, "<b>boom</b> upstream down")]
    page.get_by_role("button", name="Send test event").click()
    page.wait_for_timeout(1500)
    page.goto(live_server.url + "/console/admin/webhooks")
    row = page.locator("table.webhook-deliveries tbody tr").first
    expect(row).to_have_attribute("data-status", "queued")
    expect(row).to_contain_text("HTTP 500")
    row.locator("summary").click()
    expect(row.locator("pre.webhook-response")).to_have_text("<b>boom</b> upstream down")  # shown as text
    shot(page, "3-deliveries")
    assert len(receiver.requests) == 2 and not page.errors
    context.close()
