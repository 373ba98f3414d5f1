"""The API tokens screen in Chromium: an admin makes a token, copies it (shown once), and revokes it."""
from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import signed_in_page

SHOTS = "/tmp/tokens-shots"


def test_admin_makes_copies_and_revokes_a_token(browser, live_server):
    context, page = signed_in_page(browser, live_server, viewport={"width": 1280, "height": 900}, email="alex@shop.test")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(live_server.url + "/console/admin/agents")
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", exact=True)).to_be_visible()
    page.get_by_label("Integration").fill("Shop sync")
    page.get_by_label("It may also write").check()
    page.get_by_role("button", name="Make token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("hd_")
    page.locator("#copy-token").click()
    assert page.evaluate("navigator.clipboard.readText()") == token
    page.screenshot(path=f"{SHOTS}/tokens-new-1280.png", full_page=True)
    assert httpx.get(live_server.url + "/api/v1/tickets", headers={"authorization": f"Bearer {token}"}).status_code == 200

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#api-tokens button", has_text="Revoke").click()
    expect(page.locator("#admin-notice")).to_contain_text("is revoked")
    expect(page.locator("#api-tokens tr[data-state='revoked']")).to_have_count(1)
    assert token not in page.content()
    page.screenshot(path=f"{SHOTS}/tokens-revoked-1280.png", full_page=True)
    assert httpx.get(live_server.url + "/api/v1/tickets", headers={"authorization": f"Bearer {token}"}).status_code == 401
    assert page.errors == []
    context.close()
