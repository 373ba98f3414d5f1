"""Sign-in in a real browser."""
from __future__ import annotations

from tests.e2e.conftest import PASSWORD, sign_in


def test_agent_signs_in_and_out_in_chromium(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server)
    assert "Bea Agent" in page.content()
    context.close()
    assert errors == []


def test_wrong_password_keeps_the_agent_on_the_form_with_an_error(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + "/console/login")
    page.get_by_label("Email").fill("bea@shop.test")
    page.get_by_label("Password").fill(PASSWORD + "x")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("That email and password do not match")
    context.close()
