"""Snooze in Chromium: an agent snoozes a ticket with a preset and it leaves the queue; a snoozed
ticket whose time has come is woken by the sweep of `helpdesk serve`, and the bell's count rises
without a reload."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import run_sync
from tests.e2e.conftest import _seed_agents, e2e_settings, sign_in, start_server, stop_server
from tests.e2e.test_content_security_policy import RECORD_VIOLATIONS

ZONE = "Europe/Berlin"  # the agent's browser, an hour or two off UTC: presets are 9:00 there
SCREENSHOTS = Path(os.environ.get("HELPDESK_SCREENSHOTS", "/tmp/helpdesk-screenshots"))


async def _seed(settings) -> dict:
    """Three tickets of Ann's assigned to Bea; the third snoozed until tomorrow."""
    from sqlalchemy import update

    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import Ticket
    from tests.factories import inbound

    engine = make_engine(settings)
    ids = []
    async with make_session_factory(engine)() as session:
        for subject in ("Parcel never arrived", "Refund for the teapot", "Invoice address wrong"):
            ids.append((await ingest(session, inbound(subject=subject, text=f"{subject}, please help."),
                                     settings=settings)).ticket_id)
        await session.execute(update(Ticket).values(assignee_id=1, status="open"))  # bea, the first agent seeded
        await session.execute(update(Ticket).where(Ticket.id == ids[2]).values(
            status="pending", snoozed_until=datetime.now(timezone.utc) + timedelta(days=1)))
        await session.commit()
    await engine.dispose()
    return {"ticket_ids": ids}


async def _due_now(settings, ticket_id: int) -> None:
    """The snooze's time comes (as if a day had passed)."""
    from sqlalchemy import update

    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.models import Ticket

    engine = make_engine(settings)
    async with make_session_factory(engine)() as session:
        await session.execute(update(Ticket).where(Ticket.id == ticket_id)
                              .values(snoozed_until=datetime.now(timezone.utc) - timedelta(seconds=1)))
        await session.commit()
    await engine.dispose()


@pytest.fixture
def snooze_server(tmp_path, database_url):
    settings = e2e_settings(tmp_path, database_url)
    _seed_agents(settings)
    data = run_sync(_seed(settings))
    server = start_server(tmp_path, settings, database_url)
    server.data = data
    yield server
    stop_server(server)


def _page(browser, server, width=1440, height=900):
    context = browser.new_context(viewport={"width": width, "height": height}, timezone_id=ZONE)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.add_init_script(RECORD_VIOLATIONS)  # the Content-Security-Policy refuses nothing we do
    sign_in(page, server)
    return context, page


def _clean(page) -> None:
    assert page.errors == [] and page.evaluate("window.__violations") == []


def _tomorrow_nine_label() -> str:
    tomorrow = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=1)
    return f"{tomorrow.strftime('%a')} {tomorrow.day} {tomorrow.strftime('%b')}, 09:00"


def test_agent_snoozes_a_ticket_with_a_preset_and_it_leaves_the_queue(browser, snooze_server):
    first, second, _ = snooze_server.data["ticket_ids"]
    context, page = _page(browser, snooze_server)
    try:
        page.goto(f"{snooze_server.url}/console/queues/mine")
        row = page.locator(f"#queue-list [data-ticket-id='{first}']")
        row.wait_for()
        page.locator("#count-mine", has_text="2").wait_for()
        page.locator("#count-snoozed", has_text="1").wait_for()
        row.locator("a.row-link").click()
        page.locator("#ticket-properties").wait_for()

        page.locator("#snooze summary").click()
        page.get_by_role("button", name="Tomorrow 9:00").click()
        state = page.locator("#snooze-state", has_text=f"Snoozed until {_tomorrow_nine_label()}")
        state.wait_for()  # in the agent's zone (written by local-time.js once swapped in), not UTC
        assert state.inner_text() == f"Snoozed until {_tomorrow_nine_label()}"
        assert page.locator("#ticket-status").inner_text() == "pending"
        # the queue follows without a reload: the row goes, the counts move
        row.wait_for(state="detached", timeout=10000)
        page.locator("#count-mine", has_text="1").wait_for()
        page.locator("#count-snoozed", has_text="2").wait_for()
        assert page.locator(f"#queue-list [data-ticket-id='{second}']").count() == 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "snooze-ticket-desktop.png"))

        # a time in the past is refused next to the field
        page.locator("#snooze summary").click()
        page.locator("#snooze-until").fill("2020-01-01T09:00")
        page.locator("#snooze-button").click()
        page.locator("#snooze-error", has_text="that time has passed").wait_for()
        assert page.locator("#snooze-until").get_attribute("aria-invalid") == "true"
        page.screenshot(path=str(SCREENSHOTS / "snooze-error-desktop.png"))

        # the Snoozed queue lists it, with when it comes back
        page.locator("a[data-queue='snoozed']").click()
        snoozed = page.locator(f"#queue-list [data-ticket-id='{first}']", has_text=f"back {_tomorrow_nine_label()}")
        snoozed.wait_for()
        page.screenshot(path=str(SCREENSHOTS / "snoozed-queue-desktop.png"))

        page.locator("#unsnooze-button").click()
        page.locator("#snooze-state").wait_for(state="detached")
        assert page.locator("#ticket-status").inner_text() == "open"
        _clean(page)
    finally:
        context.close()


def test_a_due_ticket_is_woken_by_the_sweep_and_the_bell_rises_without_reload(browser, snooze_server):
    _, _, snoozed = snooze_server.data["ticket_ids"]
    context, page = _page(browser, snooze_server)
    try:
        page.goto(f"{snooze_server.url}/console/queues/mine")
        page.locator("#queue-list [data-ticket-id]").first.wait_for()
        bell = page.locator("#notification-bell")
        bell.wait_for()
        page.locator("#notification-bell[aria-label='Notifications']").wait_for()  # counted: none unread
        assert page.locator(f"#queue-list [data-ticket-id='{snoozed}']").count() == 0
        page.evaluate("window.__noReload = true")

        run_sync(_due_now(snooze_server.settings, snoozed))
        page.locator("#notification-count", has_text="1").wait_for(timeout=45000)  # the sweep runs every 30 s
        assert page.evaluate("window.__noReload") is True
        page.locator(f"#queue-list [data-ticket-id='{snoozed}']").wait_for(timeout=10000)
        assert bell.get_attribute("aria-label") == "Notifications: 1 unread"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "bell-desktop.png"))

        bell.click()
        page.wait_for_url("**/console/notifications")
        item = page.locator(".notification.unread")
        assert "'Invoice address wrong' is back from snooze" in item.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "notifications-desktop.png"))
        item.locator("button").click()
        page.wait_for_url(f"**/console/tickets/{snoozed}")
        page.locator("#notification-bell[aria-label='Notifications']").wait_for()  # read: the count is gone
        assert page.locator("#notification-count").is_hidden()
        _clean(page)
    finally:
        context.close()


def test_snooze_and_bell_on_a_phone(browser, snooze_server):
    first = snooze_server.data["ticket_ids"][0]
    context, page = _page(browser, snooze_server, width=390, height=844)
    try:
        page.goto(f"{snooze_server.url}/console/tickets/{first}")
        page.locator("#snooze summary").click()
        page.locator("#snooze-presets").wait_for()
        page.locator("#snooze-presets").scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "snooze-menu-phone.png"))
        page.get_by_role("button", name="In 1 hour").click()
        page.locator("#snooze-state").wait_for()
        assert page.locator("#unsnooze-button").is_visible() and page.locator("#notification-bell").is_visible()
        page.locator("#snooze-state").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "snooze-state-phone.png"))
        page.goto(f"{snooze_server.url}/console/notifications")
        page.screenshot(path=str(SCREENSHOTS / "notifications-phone.png"))
        _clean(page)
    finally:
        context.close()
