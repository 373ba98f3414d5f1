"""In Chromium: properties save on change with an undo, another agent's change shows up (in the panel
and as a line in the conversation) and is not overwritten, unsaved tags are not lost silently, and a
long thread keeps the properties and the reply box in view."""
from __future__ import annotations

import pytest

from tests.conftest import run_sync
from tests.e2e.conftest import signed_in_page
from tests.e2e.test_console_browser import wait_until

LONG_TEXT = ("Thank you for the update. " * 30).strip()


async def _seed(settings) -> dict:
    """Two tickets of Ann's in Bea's queue, and a thread of 60 long messages."""
    from datetime import timedelta

    from sqlalchemy import select

    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest
    from helpdesk.models import Agent, Message, Ticket, utcnow
    from helpdesk.tickets import history
    from tests.factories import inbound

    engine = make_engine(settings)
    async with make_session_factory(engine)() as session:
        bea = await session.scalar(select(Agent.id).where(Agent.email == "bea@shop.test"))
        teapot = await ingest(session, inbound(subject="Cracked teapot", text="The spout is broken."), settings=settings)
        refund = await ingest(session, inbound(subject="Refund for order #5100", text="Please refund me."),
                              settings=settings)
        long = await ingest(session, inbound(sender="bob@example.com", name="Bob Long", subject="A long story",
                                             text=LONG_TEXT), settings=settings)
        start = utcnow() - timedelta(hours=2)
        for n in range(59):
            outbound = n % 2 == 1
            session.add(Message(ticket_id=long.ticket_id, direction="outbound" if outbound else "inbound",
                                channel="email", agent_id=bea if outbound else None,
                                sender_name=None if outbound else "Bob Long", text=f"{n + 2}. {LONG_TEXT}",
                                delivery_status="sent" if outbound else None,
                                created_at=start + timedelta(minutes=n), updated_at=start + timedelta(minutes=n)))
        for ticket_id in (teapot.ticket_id, refund.ticket_id):
            (await session.get(Ticket, ticket_id)).assignee_id = bea
        # a line of history after the newest message
        history.record(session, None, "ticket.update", long.ticket_id, {"priority": ["normal", "high"]})
        await session.commit()
    await engine.dispose()
    return {"teapot": teapot.ticket_id, "refund": refund.ticket_id, "long": long.ticket_id}


@pytest.fixture
def seeded(live_server):
    live_server.data = run_sync(_seed(live_server.settings))
    return live_server


def open_page(browser, server, email="bea@shop.test"):
    return signed_in_page(browser, server, viewport={"width": 1440, "height": 900}, email=email)


def two_agents_on(browser, server, ticket_id):
    """Bea and Lena on the same ticket, each one's live stream connected (each sees the other)."""
    bea_context, bea = open_page(browser, server, "bea@shop.test")
    lena_context, lena = open_page(browser, server, "lena@shop.test")
    for page in (bea, lena):
        page.goto(f"{server.url}/console/tickets/{ticket_id}")
    bea.locator("#presence", has_text="Lena").wait_for(timeout=20000)
    lena.locator("#presence", has_text="Bea").wait_for(timeout=20000)
    return (bea_context, bea), (lena_context, lena)


def history(page, text):
    return page.locator("#timeline .history-event", has_text=text)


def test_a_select_saves_on_change_with_undo_and_other_agents_see_the_line(browser, seeded):
    (bea_context, bea), (lena_context, lena) = two_agents_on(browser, seeded, seeded.data["teapot"])
    try:
        lena.locator("#prop-status").select_option("pending")
        saved = lena.locator("#properties-undo")
        saved.wait_for()
        assert saved.inner_text().startswith("Saved · Undo")
        history(lena, "Lena Lead changed status from new to pending").wait_for()
        # Bea, on the same ticket, sees the line in the conversation and the new value, without reloading
        history(bea, "Lena Lead changed status from new to pending").wait_for(timeout=15000)
        assert wait_until(lambda: bea.locator("#prop-status").input_value() == "pending")
        assert bea.locator("#ticket-status").inner_text() == "pending"

        lena.locator("#undo-button").click()
        lena.locator("#properties-undo", has_text="Undone.").wait_for()
        assert lena.locator("#prop-status").input_value() == "new"
        history(lena, "Lena Lead changed status from pending to new (undo)").wait_for()
        history(bea, "(undo)").wait_for(timeout=15000)
        assert wait_until(lambda: bea.locator("#prop-status").input_value() == "new")
        # the notice goes after a few seconds; the history stays
        lena.locator("#properties-undo").wait_for(state="detached", timeout=12000)
        assert lena.locator("#timeline .history-event").count() == 2
        assert bea.errors == [] and lena.errors == []
    finally:
        bea_context.close()
        lena_context.close()


def test_two_selects_changed_in_quick_succession_are_both_saved(browser, seeded):
    context, page = open_page(browser, seeded)
    try:
        page.goto(f"{seeded.url}/console/tickets/{seeded.data['refund']}")
        page.locator("#prop-status").select_option("pending")
        page.locator("#prop-priority").select_option("high")  # before the first answer is back
        history(page, "changed priority from normal to high").wait_for()
        history(page, "changed status from new to pending").wait_for()
        page.reload()
        assert (page.locator("#prop-status").input_value(), page.locator("#prop-priority").input_value()) == (
            "pending", "high")
        assert page.errors == []
    finally:
        context.close()


def test_a_concurrent_change_is_shown_and_not_overwritten(browser, seeded):
    (bea_context, bea), (lena_context, lena) = two_agents_on(browser, seeded, seeded.data["teapot"])
    try:
        bea.locator("#prop-priority").focus()  # Bea is about to choose a priority
        lena.locator("#prop-priority").select_option("urgent")
        lena.locator("#properties-undo").wait_for()
        history(bea, "Lena Lead changed priority from normal to urgent").wait_for(timeout=15000)
        # the live re-fetch waits: the select Bea is in is not swapped under her
        assert bea.locator("#prop-priority").input_value() == "normal"
        assert bea.evaluate("document.activeElement.id") == "prop-priority"

        bea.locator("#prop-priority").select_option("high")
        conflict = bea.locator(".properties-conflict")
        conflict.wait_for()
        text = " ".join(conflict.inner_text().split())
        assert "Lena Lead changed priority to urgent at" in text, text
        assert "while you were editing — your change (high) was not saved. Apply it anyway?" in text
        assert bea.locator("#prop-priority").input_value() == "urgent"  # what the ticket has now

        conflict.get_by_role("button", name="Apply high").click()
        bea.locator("#properties-undo").wait_for()
        assert bea.locator("#prop-priority").input_value() == "high"
        assert bea.locator(".properties-conflict").count() == 0
        assert wait_until(lambda: lena.locator("#prop-priority").input_value() == "high")
        history(lena, "Bea Agent changed priority from urgent to high").wait_for(timeout=15000)
        assert bea.errors == [] and lena.errors == []
    finally:
        bea_context.close()
        lena_context.close()


def test_leaving_a_ticket_with_unsaved_tags_asks_first(browser, seeded):
    context, page = open_page(browser, seeded)
    dialogs: list[tuple[str, str]] = []
    answer = {"accept": False}

    def on_dialog(dialog):
        dialogs.append((dialog.type, dialog.message))
        dialog.accept() if answer["accept"] else dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        teapot, refund = seeded.data["teapot"], seeded.data["refund"]
        page.goto(f"{seeded.url}/console/tickets/{teapot}")
        other_row = page.locator(f"#queue-list [data-ticket-id='{refund}'] a.row-link")
        other_row.wait_for()
        tags = page.locator("#prop-tags")
        tags.fill("vip, refund")
        # a select saves on its own; the tags being typed stay
        page.locator("#prop-status").select_option("open")
        page.locator("#properties-undo").wait_for()
        assert tags.input_value() == "vip, refund"

        other_row.click()
        assert wait_until(lambda: len(dialogs) == 1)
        assert dialogs[0][0] == "confirm" and "tag changes on this ticket are not saved" in dialogs[0][1]
        page.wait_for_timeout(500)
        assert page.url.endswith(f"/console/tickets/{teapot}") and tags.input_value() == "vip, refund"

        answer["accept"] = True  # leaving the console page (a plain link, closing the tab): the browser asks
        page.locator("nav.sections a", has_text="Queues").click()
        page.wait_for_url(f"{seeded.url}/console/")
        assert dialogs[-1][0] == "beforeunload"
        page.goto(f"{seeded.url}/console/tickets/{teapot}")
        page.locator("#prop-tags").fill("vip")
        page.locator("#prop-tags").press("Enter")  # saved: leaving asks nothing
        page.locator("#properties-undo").wait_for()
        count = len(dialogs)
        page.locator(f"#queue-list [data-ticket-id='{refund}'] a.row-link").click()
        page.wait_for_url(f"**/console/tickets/{refund}")
        assert len(dialogs) == count
        assert page.errors == []
    finally:
        context.close()


def test_a_long_thread_keeps_the_properties_and_the_reply_box_in_view(browser, seeded):
    context, page = open_page(browser, seeded)
    try:
        page.goto(f"{seeded.url}/console/tickets/{seeded.data['long']}")
        assert page.locator("#timeline .message").count() == 60
        height = 900
        workspace_height = page.evaluate("document.getElementById('workspace').scrollHeight")
        assert workspace_height > 5 * height  # a thread much longer than the screen
        # opened at the newest message, which is not hidden behind the reply box (nor the history line after it)
        last = page.locator("#timeline .message").last.bounding_box()
        reply = page.locator("#reply-box").bounding_box()
        assert last["y"] + last["height"] <= reply["y"] + 1 and last["y"] + last["height"] > 0
        line = page.locator("#timeline .history-event").last.bounding_box()
        assert line["y"] + line["height"] <= reply["y"] + 1
        for position in (0, workspace_height // 2):
            page.evaluate(f"document.getElementById('workspace').scrollTop = {position}")
            page.wait_for_timeout(100)
            properties = page.locator("#ticket-properties").bounding_box()
            status = page.locator("#prop-status").bounding_box()
            body = page.locator("#reply-body").bounding_box()
            send = page.locator("#send-button").bounding_box()
            assert 0 <= properties["y"] < 120 and status["y"] + status["height"] < height, (position, properties)
            assert 0 < body["y"] and send["y"] + send["height"] <= height, (position, body, send)
            assert page.locator("#reply-box").bounding_box()["y"] > height / 2  # the thread keeps most of the screen
        page.locator("#reply-body").click()
        page.keyboard.type("Still reading")
        assert page.locator("#reply-body").input_value().endswith("Still reading")
        assert page.errors == []
    finally:
        context.close()


def test_on_a_phone_a_reply_link_floats_over_a_long_thread_and_brings_the_reply_box(browser, seeded):
    context, page = signed_in_page(browser, seeded, viewport={"width": 390, "height": 844})
    try:
        page.goto(f"{seeded.url}/console/tickets/{seeded.data['long']}")
        page.locator("#timeline").wait_for()
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(100)
        jump = page.locator("#jump-to-reply")
        box = jump.bounding_box()
        assert box["y"] + box["height"] <= 844 and box["y"] > 844 - 120, box  # at the foot of the screen
        assert page.locator("#reply-body").bounding_box()["y"] > 844  # the reply box itself is far below
        jump.click()
        page.wait_for_timeout(300)
        body = page.locator("#reply-body").bounding_box()
        assert 0 <= body["y"] < 844, body
        jump.wait_for(state="hidden")  # the reply box in view: no link to it
        page.goto(f"{seeded.url}/console/tickets/{seeded.data['teapot']}")  # a short ticket: never needed
        page.locator("#reply-box").wait_for()
        page.wait_for_timeout(300)
        assert not page.locator("#jump-to-reply").is_visible()
        assert page.errors == []
    finally:
        context.close()

