"""In Chromium: a pending ticket that was overdue when it paused says "paused, overdue by 1d 2h" (never
"-1d 2h left"), also once the countdown script has redrawn it; a row of "Breaching soon" whose due
time passes while the queue is open turns red and says breached, without a reload."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import run_sync
from tests.e2e.conftest import signed_in_page


async def _seed(settings) -> dict[str, int]:
    from sqlalchemy import update

    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import SlaPolicy, Ticket
    from tests.factories import inbound

    now = datetime.now(timezone.utc)
    engine = make_engine(settings)
    async with make_session_factory(engine)() as session:
        session.add(SlaPolicy(name="standard", position=1, first_response_minutes=60, resolution_minutes=600))
        await session.commit()
        paused = await ingest(session, inbound(sender="pia@example.com", subject="Waiting on you"), settings=settings)
        soon = await ingest(session, inbound(sender="sam@example.com", subject="Due any minute"), settings=settings)
        await session.execute(update(Ticket).where(Ticket.id == paused.ticket_id).values(
            status="pending", sla_paused_at=now - timedelta(hours=1), first_response_due_at=None,
            first_responded_at=now - timedelta(days=2),
            resolution_due_at=now - timedelta(days=1, hours=3)))  # 1d 2h overdue when it paused
        await session.execute(update(Ticket).where(Ticket.id == soon.ticket_id).values(
            status="open", first_response_due_at=now + timedelta(minutes=2), resolution_due_at=None))
        await session.commit()
    await engine.dispose()
    return {"paused": paused.ticket_id, "soon": soon.ticket_id}


@pytest.fixture
def page(browser, live_server):
    live_server.tickets = run_sync(_seed(live_server.settings))
    context, page = signed_in_page(browser, live_server)
    yield page
    context.close()


def test_a_paused_overdue_clock_says_so_after_the_countdown_redraws(page, live_server):
    page.goto(f"{live_server.url}/console/tickets/{live_server.tickets['paused']}")
    resolution = page.locator("#sla-clocks [data-clock='resolution'] .sla-remaining")
    page.wait_for_timeout(1500)  # the countdown script has redrawn every clock since
    assert resolution.inner_text() == "paused, overdue by 1d 2h"
    assert "-" not in page.locator("#sla-clocks").inner_text()
    assert page.errors == []


def test_a_breaching_soon_row_turns_breached_when_its_time_passes(page, live_server):
    page.clock.install(time=datetime.now(timezone.utc))
    page.goto(f"{live_server.url}/console/queues/breaching")
    due = page.locator(f"[data-ticket-id='{live_server.tickets['soon']}'] .due")
    assert due.inner_text().startswith("due in") and "breached" not in due.get_attribute("class")
    page.clock.run_for("00:03:00")
    assert due.inner_text() == "breached 1 min ago"
    assert "breached" in due.get_attribute("class")
    assert page.errors == []
