"""The SLA board in Chromium, as a team lead sees it: a ticket's countdown turns red when it breaches,
without a reload; an event on the live "sla" channel re-fetches the board, which then counts it as
breached (the agent's column agreeing with the list); filters live in the URL."""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from helpdesk import live
from helpdesk.live_relay import RelayPublisher
from tests.conftest import run_sync
from tests.e2e.conftest import _seed_agents, e2e_settings, sign_in, start_server, stop_server
from tests.e2e.test_content_security_policy import RECORD_VIOLATIONS

SCREENSHOTS = Path(os.environ.get("HELPDESK_SCREENSHOTS", "/tmp/helpdesk-screenshots"))
BREACH_IN = 6  # seconds from seeding to the first ticket's breach


async def _seed(settings) -> dict:
    """Two of Ann's tickets, Bea's: one whose first response is due in a few seconds (no team), one due
    in two hours in team Support."""
    from sqlalchemy import update

    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import Ticket
    from helpdesk.staff.agents import ensure_team
    from tests.factories import inbound

    engine = make_engine(settings)
    async with make_session_factory(engine)() as session:
        team = await ensure_team(session, "Support")
        ids = [(await ingest(session, inbound(subject=subject, text=f"{subject}, please help."), settings=settings)).ticket_id
               for subject in ("Parcel never arrived", "Refund for the teapot")]
        now = datetime.now(timezone.utc)
        await session.execute(update(Ticket).values(assignee_id=1, status="open"))  # bea, the first agent seeded
        await session.execute(update(Ticket).where(Ticket.id == ids[0]).values(
            first_response_due_at=now + timedelta(seconds=BREACH_IN), resolution_due_at=None))
        await session.execute(update(Ticket).where(Ticket.id == ids[1]).values(
            team_id=team, first_response_due_at=now + timedelta(hours=2), resolution_due_at=None))
        await session.commit()
    await engine.dispose()
    return {"ticket_ids": ids, "team_id": team}


@pytest.fixture
def board_server(tmp_path, database_url):
    settings = e2e_settings(tmp_path, database_url)
    _seed_agents(settings)
    server = start_server(tmp_path, settings, database_url)
    server.data = run_sync(_seed(settings))  # after start-up: the countdown starts with the page
    yield server
    stop_server(server)


def _republish_until(page, server, selector: str) -> None:
    """Events on the live "sla" channel (as the sweep sends them) until the board's re-fetch shows
    `selector`; the page's stream subscribes a moment after it opens."""
    relay = RelayPublisher(server.settings.live_dir)
    deadline = time.monotonic() + 20
    while True:
        relay(live.sla_channel(), {"event": "sla.breached"})
        try:
            page.locator(selector).wait_for(timeout=2500)
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


def test_a_countdown_turns_red_at_the_breach_and_the_board_follows_live(browser, board_server):
    first, second = board_server.data["ticket_ids"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        sign_in(page, board_server, "lena@shop.test")
        page.goto(f"{board_server.url}/console/sla/")
        clock = page.locator(f"#sla-upcoming tr[data-ticket-id='{first}'] .sla-clock")
        clock.wait_for()
        assert "sla-warning" in clock.get_attribute("class") and "left" in clock.inner_text()
        assert page.locator("#sla-breached-now .stat-value").inner_text() == "0"
        page.evaluate("() => { window.__sameDocument = true; }")

        # the breach, in the browser's own time: red, "overdue by", without a request for the page
        page.locator(f"#sla-upcoming tr[data-ticket-id='{first}'] .sla-clock.sla-breached").wait_for(
            timeout=(BREACH_IN + 10) * 1000)
        assert "overdue by" in clock.inner_text()
        assert page.evaluate("window.__sameDocument") is True
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "sla-board-breach-desktop.png"), full_page=True)

        # a live event re-fetches the board: the ticket is now counted as breached, in the list and for Bea
        _republish_until(page, board_server, f"#sla-overdue tr[data-ticket-id='{first}']")
        assert page.evaluate("window.__sameDocument") is True
        assert page.locator("#sla-breached-now .stat-value").inner_text() == "1"
        bea = page.locator("#sla-agents tr[data-agent-id='1'] [data-count='breached']")
        assert bea.inner_text() == "1" == str(page.locator("#sla-overdue tbody tr[data-ticket-id]").count())
        assert page.locator(f"#sla-upcoming tr[data-ticket-id='{second}']").count() == 1

        # filters are in the URL and narrow the board
        page.select_option("#sla-filter-team", str(board_server.data["team_id"]))
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(lambda url: f"team={board_server.data['team_id']}" in url)
        page.locator(f"#sla-upcoming tr[data-ticket-id='{second}']").wait_for()
        assert page.locator(f"tr[data-ticket-id='{first}']").count() == 0
        assert page.locator("#sla-breached-now .stat-value").inner_text() == "0"
        assert f"team={board_server.data['team_id']}" in page.locator("#sla-csv").get_attribute("href")
        assert errors == [] and page.evaluate("window.__violations") == []
    finally:
        context.close()


def test_the_board_fits_a_phone(browser, board_server):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, board_server, "lena@shop.test")
        page.goto(f"{board_server.url}/console/sla/")
        page.locator("#sla-breached-now").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # wide tables scroll in their card
        page.screenshot(path=str(SCREENSHOTS / "sla-board-phone.png"), full_page=True)
    finally:
        context.close()
