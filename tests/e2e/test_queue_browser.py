"""In Chromium: a queue's rows tell their last activity, the agent orders the queue and the order
holds through filters and paging, and the bulk bar assigns tickets to a colleague by name."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import run_sync
from tests.e2e.conftest import signed_in_page


async def _seed(settings) -> dict[str, int]:
    """Three tickets an agent tells apart (urgent, old, fresh) and 55 quiet ones for a second page."""
    from sqlalchemy import insert, update

    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import Ticket
    from tests.factories import inbound

    now = datetime.now(timezone.utc)
    tickets = {"urgent": ("Printer on fire", "urgent", timedelta(hours=3)),
               "old": ("Old question", "low", timedelta(days=2, hours=2)),
               "fresh": ("Fresh note", "normal", timedelta(minutes=5))}
    engine = make_engine(settings)
    ids = {}
    async with make_session_factory(engine)() as session:
        for key, (subject, priority, ago) in tickets.items():
            result = await ingest(session, inbound(sender=f"{key}@example.com", name=f"{key.title()} Customer",
                                                   subject=subject, received_at=now - ago), settings=settings)
            ids[key] = result.ticket_id
            await session.execute(update(Ticket).where(Ticket.id == result.ticket_id)
                                  .values(priority=priority, updated_at=now - ago, status="open"))
        customer_id = (await session.get(Ticket, ids["fresh"])).customer_id
        await session.execute(insert(Ticket), [
            dict(subject=f"Quiet {n}", status="open", priority="normal", channel="email", customer_id=customer_id,
                 created_at=now - timedelta(days=1, minutes=n), updated_at=now - timedelta(days=1, minutes=n))
            for n in range(55)])
        await session.commit()
    await engine.dispose()
    return ids


@pytest.fixture
def page(browser, live_server):
    live_server.tickets = run_sync(_seed(live_server.settings))
    context, page = signed_in_page(browser, live_server)
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    yield page
    context.close()


def first_row(page) -> int:
    return int(page.locator("#queue-list .queue-row").first.get_attribute("data-ticket-id"))


def test_agent_orders_a_queue_and_the_order_holds_through_filters_and_paging(page, live_server):
    ids = live_server.tickets
    page.goto(f"{live_server.url}/console/queues/open")
    assert first_row(page) == ids["fresh"]
    fresh_time = page.locator(f"[data-ticket-id='{ids['fresh']}'] .row-top time")
    assert fresh_time.inner_text() == "5 min ago"
    assert fresh_time.get_attribute("title").startswith("Last activity: ")
    assert page.locator(f"[data-ticket-id='{ids['old']}'] .row-top time").count() == 0  # on a later page

    page.select_option("#queue-sort", label="Priority")
    page.wait_for_url("**/console/queues/open?sort=priority")
    assert first_row(page) == ids["urgent"]
    assert page.locator(f"[data-ticket-id='{ids['urgent']}'] .row-top time").inner_text() == "3 h ago"

    page.select_option("#filter-channel", "email")
    page.wait_for_url(lambda url: "channel=email" in url)
    assert "sort=priority" in page.url and "status=" not in page.url  # empty filters stay out of the URL
    assert page.locator("#queue-sort").input_value() == "priority"
    assert first_row(page) == ids["urgent"]

    page.select_option("#queue-sort", label="Oldest activity")
    page.wait_for_url(lambda url: "sort=oldest" in url and "channel=email" in url)
    assert first_row(page) == ids["old"]
    assert page.locator(f"[data-ticket-id='{ids['old']}'] .row-top time").inner_text() == "2 d ago"
    last_on_first_page = page.locator("#queue-list .row-top time").last.get_attribute("datetime")
    page.click("#queue-next")
    page.wait_for_url(lambda url: "after=" in url)
    assert "sort=oldest" in page.url and "channel=email" in page.url
    assert page.locator("#queue-sort").input_value() == "oldest"
    assert page.locator("#queue-list .row-top time").first.get_attribute("datetime") >= last_on_first_page
    assert ids["fresh"] == int(page.locator("#queue-list .queue-row").last.get_attribute("data-ticket-id"))
    assert page.errors == []


def test_agent_assigns_ticked_tickets_to_a_colleague_by_name(page, live_server):
    ids = live_server.tickets
    page.goto(f"{live_server.url}/console/queues/open")
    assert page.locator("#bulk-tags").is_hidden()
    page.select_option("#bulk-action", label="Add tag…")
    assert page.locator("#bulk-tags").is_visible()
    page.select_option("#bulk-action", label="Lena Lead")
    assert page.locator("#bulk-tags").is_hidden()
    page.click("button[name=apply]")  # nothing ticked: the bar says so, the queue and the choice stay
    error = page.locator("#bulk-error")
    error.wait_for()
    assert error.inner_text() == "select at least one ticket"
    assert page.url.endswith("/console/queues/open") and first_row(page) == ids["fresh"]
    assert page.locator("#bulk-action option:checked").inner_text() == "Lena Lead"

    for key in ("fresh", "urgent"):
        page.check(f"[data-ticket-id='{ids[key]}'] input[type=checkbox]")
    page.click("button[name=apply]")
    notice = page.locator("#bulk-notice")
    notice.wait_for()
    assert notice.inner_text() == "2 tickets assigned to Lena Lead."
    for key in ("fresh", "urgent"):
        assert page.locator(f"[data-ticket-id='{ids[key]}'] .assignee").inner_text() == "Lena Lead"
    assert page.locator(f"[data-ticket-id='{ids['old']}'] .assignee").count() == 0
    assert page.errors == []


def test_a_queue_left_open_keeps_its_times_true(page, live_server):
    """An agent keeps the console open all day: "5 min ago" becomes "2 h ago" without a reload."""
    page.clock.install(time=datetime.now(timezone.utc))
    page.goto(f"{live_server.url}/console/queues/open")
    fresh = page.locator(f"[data-ticket-id='{live_server.tickets['fresh']}'] .row-top time")
    assert fresh.inner_text() == "5 min ago"
    page.clock.run_for("02:00:00")
    assert fresh.inner_text() == "2 h ago"
    assert "Last activity: " in fresh.get_attribute("title")
