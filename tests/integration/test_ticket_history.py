"""A ticket's history in its conversation, and properties saved without overwriting another agent's change."""
from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone

from sqlalchemy import event, select

from helpdesk.models import Agent, AuditEvent, Ticket, TicketTag
from helpdesk.tickets import outbox
from helpdesk.tickets.actions import Changes, bulk_update, merge_tickets, split_message
from helpdesk.inbound.ingest import ingest
from helpdesk.web.console import live as live_web
from tests.factories import inbound
from tests.integration.test_console_live import channels, next_event  # noqa: F401
from tests.support.console import app, client, csrf_from, htmx, shop, sign_in  # noqa: F401


def history_lines(html: str) -> list[str]:
    """The text of each history line, tags stripped, in page order."""
    lines = re.findall(r'<li id="event-\d+" class="history-event"[^>]*>(.*?)</li>', html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", line).split()) for line in lines]


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def timeline_order(html: str) -> list[str]:
    return re.findall(r'<li id="(message-\d+|event-\d+)"', html)


async def post_properties(client, ticket_id, token, **fields):
    return await client.post(f"/console/tickets/{ticket_id}/properties", headers=htmx("ticket-properties", token),
                             data=fields)


async def test_property_changes_are_lines_in_the_conversation_with_names_and_old_values(client, shop):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    await post_properties(client, ticket_id, token, status="pending", priority="high", shown_status="new",
                          shown_priority="normal")
    await post_properties(client, ticket_id, token, assignee_id=str(shop.agents["lead"]), team_id=str(shop.team_id))
    await post_properties(client, ticket_id, token, tags="refund, vip", shown_tags="")
    await post_properties(client, ticket_id, token, tags="vip", shown_tags="refund, vip", assignee_id="none")
    page = await client.get(f"/console/tickets/{ticket_id}")
    lines = history_lines(page.text)
    assert lines[0].startswith("Bea Agent changed status from new to pending, changed priority from normal to high ·")
    assert lines[1].startswith("Bea Agent assigned it to Lena Lead, set team to Support ·")
    assert lines[2].startswith("Bea Agent added tags refund vip ·")
    assert lines[3].startswith("Bea Agent unassigned Lena Lead, removed tag refund ·")
    assert len(lines) == 4
    # after the customer's message, in time order; the time of day is shown
    order = timeline_order(page.text)
    assert order[0] == f"message-{shop.message_ids[0]}" and all(o.startswith("event-") for o in order[1:])
    assert re.search(r'class="history-event"[^>]*>.*?<time datetime="[^"]+Z"[^>]*>\d\d:\d\d</time>', page.text, re.S)


async def test_names_in_history_are_escaped(client, shop, session):
    lead = await session.get(Agent, shop.agents["lead"])
    lead.name = "<b>Lena</b>"
    await session.commit()
    await bulk_update(session, [shop.ticket_ids[0]], Changes(status="open"), agent=lead)
    await sign_in(client, "agent")
    page = await client.get(f"/console/tickets/{shop.ticket_ids[0]}")
    assert "<strong>&lt;b&gt;Lena&lt;/b&gt;</strong> changed status" in page.text


async def test_merge_and_split_show_on_both_tickets_with_links(client, shop, session, settings):
    agent = await session.get(Agent, shop.agents["agent"])
    first, second = [await session.get(Ticket, i) for i in shop.ticket_ids]
    await merge_tickets(session, first, second.number, agent=agent)
    await ingest(session, inbound(sender="ann@example.com", subject="Re: Broken teapot", token=second.number,
                                  text="And the lid too."), settings=settings)
    message_id = shop.message_ids[1]
    new = await split_message(session, second, message_id, agent=agent)
    await sign_in(client, "agent")
    survivor = (await client.get(f"/console/tickets/{second.id}")).text
    assert f'merged <a href="/console/tickets/{first.id}">#{first.number}</a> into this ticket' in survivor
    assert f'split a message out into <a href="/console/tickets/{new.id}">#{new.number}</a>' in survivor
    split_off = (await client.get(f"/console/tickets/{new.id}")).text
    assert f'split this ticket from <a href="/console/tickets/{second.id}">#{second.number}</a>' in split_off
    merged = await session.scalar(select(AuditEvent).where(AuditEvent.action == "ticket.merge"))
    assert (merged.object_id, merged.data) == (first.id, {"into": second.id, "into_number": second.number})


async def test_snooze_events_and_old_style_events_have_lines(client, shop, session):
    ticket_id = shop.ticket_ids[0]
    session.add_all([
        AuditEvent(agent_id=shop.agents["agent"], action="ticket.snoozed", object_type="ticket", object_id=ticket_id,
                   data={"until": "2026-12-03T09:00:00+00:00"}),
        AuditEvent(agent_id=shop.agents["agent"], action="ticket.unsnoozed", object_type="ticket", object_id=ticket_id,
                   data={"until": "2026-12-03T09:00:00+00:00"}),
        AuditEvent(agent_id=None, action="ticket.woken", object_type="ticket", object_id=ticket_id, data={}),
        AuditEvent(agent_id=shop.agents["lead"], action="ticket.update", object_type="ticket", object_id=ticket_id,
                   data={"status": "pending"}),  # written before old values were kept
        AuditEvent(agent_id=shop.agents["lead"], action="customer.merge", object_type="ticket", object_id=ticket_id),
    ])
    await session.commit()
    await sign_in(client, "agent")
    lines = history_lines((await client.get(f"/console/tickets/{ticket_id}")).text)
    assert [line.split(" ·")[0] for line in lines] == [
        "Bea Agent snoozed the ticket until 03 Dec 09:00", "Bea Agent ended the ticket's snooze",
        "Helpdesk woke the ticket: its snooze ended",
        "Lena Lead set status to pending"]


async def test_bulk_update_writes_each_tickets_history(session, shop):
    agent = await session.get(Agent, shop.agents["agent"])
    first = await session.get(Ticket, shop.ticket_ids[0])
    first.priority = "low"
    await session.commit()
    await bulk_update(session, shop.ticket_ids, Changes(priority="high", add_tags=("vip",)), agent=agent)
    rows = {e.object_id: e.data for e in await session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.update"))}
    assert rows == {shop.ticket_ids[0]: {"priority": ["low", "high"], "tags": {"added": ["vip"], "removed": []}},
                    shop.ticket_ids[1]: {"priority": ["normal", "high"], "tags": {"added": ["vip"], "removed": []}}}


async def test_send_and_mark_solved_reads_as_the_reply_then_the_status_change(client, shop):
    outbox.set_enqueuer(lambda message_id, delay: None)
    try:
        token = await sign_in(client, "agent")
        ticket_id = shop.ticket_ids[0]
        await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                          data={"body": "Shipped today.", "mode": "reply", "send": "solved"},
                          files={"attachments": ("", b"", "application/octet-stream")})
    finally:
        outbox.set_enqueuer(None)
    page = (await client.get(f"/console/tickets/{ticket_id}")).text
    order = timeline_order(page)
    assert [o.split("-")[0] for o in order] == ["message", "message", "event"]
    assert history_lines(page)[0].startswith("Bea Agent changed status from new to solved")


async def test_a_property_change_refreshes_the_conversation_of_other_viewers(channels, session, shop):  # noqa: F811
    stream = live_web.ticket_stream(channels, shop.ticket_ids[0], agent_id=99, agent_name="Carlos")
    assert (await stream.__anext__()).comment == "connected"
    pending = asyncio.ensure_future(next_event(stream))
    await asyncio.sleep(0.05)
    agent = await session.get(Agent, shop.agents["agent"])
    await bulk_update(session, [shop.ticket_ids[0]], Changes(status="pending"), agent=agent)
    assert (await pending).event == "properties"
    assert (await next_event(stream)).event == "timeline"  # the same burst: one re-fetch each
    await stream.aclose()


async def test_a_change_by_another_agent_since_the_form_was_shown_is_not_overwritten(app, client, shop, session):
    from litestar.testing import AsyncTestClient

    ticket_id = shop.ticket_ids[0]
    bea = await sign_in(client, "agent")
    async with AsyncTestClient(app=app) as other:
        lena = await sign_in(other, "lead")
        # both forms showed status new, priority normal; Lena solves first
        solved = await post_properties(other, ticket_id, lena, status="solved", shown_status="new")
        assert "Saved · " in solved.text
    mine = await post_properties(client, ticket_id, bea, status="pending", shown_status="new")
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket.status == "solved"
    text = text_of(mine.text)
    assert re.search(r"Lena Lead changed status to solved at \d\d:\d\d while you were editing — "
                     r"your change \( pending \) was not saved\. Apply it anyway\?", text), text
    assert '<option value="solved" selected>' in mine.text  # the form shows the value now
    apply = re.search(r'<form class="properties-conflict".*?</form>', mine.text, re.S).group(0)
    assert 'name="status" value="pending"' in apply and 'name="shown_status" value="solved"' in apply
    # a different property does not conflict: saved while status stays Lena's
    other_field = await post_properties(client, ticket_id, bea, priority="high", shown_priority="normal")
    assert "Saved · " in other_field.text and "while you were editing" not in other_field.text
    # the same value as the other agent's: nothing to save, no conflict
    same = await post_properties(client, ticket_id, bea, status="solved", shown_status="new")
    assert "Nothing changed." in same.text and "while you were editing" not in same.text
    # "Apply it anyway" posts the agent's value against the value now
    applied = await post_properties(client, ticket_id, bea, status="pending", shown_status="solved")
    assert "Saved · " in applied.text
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    assert (ticket.status, ticket.priority) == ("pending", "high")


async def test_tags_added_by_two_agents_are_both_kept(client, shop, session):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    session.add(TicketTag(ticket_id=ticket_id, tag="urgent-ship"))  # another agent's, after the form was shown
    await session.commit()
    await post_properties(client, ticket_id, token, tags="refund", shown_tags="")
    tags = set(await session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id)))
    assert tags == {"refund", "urgent-ship"}


async def test_undo_puts_back_the_previous_values_and_is_itself_in_the_history(client, shop, session):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    await post_properties(client, ticket_id, token, tags="old", shown_tags="")
    saved = await post_properties(client, ticket_id, token, status="pending", shown_status="new",
                                  assignee_id="me", shown_assignee_id="none", tags="old, new", shown_tags="old")
    undo = re.search(r'<form id="properties-undo".*?</form>', saved.text, re.S).group(0)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', undo))
    fields.pop("_csrf_token", None)
    assert fields == {"undo": "1", "assignee_id": "none", "shown_assignee_id": str(shop.agents["agent"]),
                      "status": "new", "shown_status": "pending", "tags": "old", "shown_tags": "new, old"}
    undone = await post_properties(client, ticket_id, token, **fields)
    assert "Undone." in undone.text and "Undo<" not in undone.text
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    assert (ticket.status, ticket.assignee_id) == ("new", None)
    assert set(await session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id))) == {"old"}
    lines = history_lines((await client.get(f"/console/tickets/{ticket_id}")).text)
    assert lines[-1].startswith("Bea Agent changed status from pending to new, unassigned Bea Agent, removed tag new (undo)")


async def test_undo_after_another_agent_changed_the_same_property_is_a_conflict(client, shop, session):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    await post_properties(client, ticket_id, token, status="pending", shown_status="new")
    lead = await session.get(Agent, shop.agents["lead"])
    await bulk_update(session, [ticket_id], Changes(status="solved"), agent=lead)
    undone = await post_properties(client, ticket_id, token, undo="1", status="new", shown_status="pending")
    assert "Lena Lead changed status to solved" in text_of(undone.text)
    assert (await session.get(Ticket, ticket_id, populate_existing=True)).status == "solved"


async def test_the_no_js_save_button_saves_only_what_differs_from_what_the_form_showed(client, shop, session):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    lead = await session.get(Agent, shop.agents["lead"])
    await bulk_update(session, [ticket_id], Changes(priority="urgent"), agent=lead)
    form = {"assignee_id": "none", "team_id": "none", "status": "new", "priority": "normal", "tags": "vip",
            "shown_assignee_id": "none", "shown_team_id": "none", "shown_status": "new", "shown_priority": "normal",
            "shown_tags": "", "_csrf_token": token}
    response = await client.post(f"/console/tickets/{ticket_id}/properties", data=form, follow_redirects=False)
    assert response.status_code == 303
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket.priority == "urgent"  # the stale "normal" in the form did not undo Lena's change
    assert set(await session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == ticket_id))) == {"vip"}


async def test_history_costs_one_query_whatever_its_length(app, client, shop, session):
    agent = await session.get(Agent, shop.agents["agent"])
    quiet, busy = shop.ticket_ids
    for n in range(30):
        await bulk_update(session, [busy], Changes(priority=("high", "low")[n % 2]), agent=agent)
    await sign_in(client, "agent")
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = app.state.engine.sync_engine
    counts = {}
    for name, ticket_id in (("quiet", quiet), ("busy", busy)):
        await client.get(f"/console/tickets/{ticket_id}")
        event.listen(engine, "before_cursor_execute", count)
        statements.clear()
        try:
            page = await client.get(f"/console/tickets/{ticket_id}")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        counts[name] = len(statements)
        assert len(history_lines(page.text)) == (30 if name == "busy" else 0)
    assert counts["quiet"] == counts["busy"], counts
    assert sum("audit_events" in s for s in statements) == 1


async def test_the_live_refetch_of_the_panel_keeps_notices_and_updates_the_status_badge(client, shop, session):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    saved = await post_properties(client, ticket_id, token, status="pending", shown_status="new")
    assert '<div id="properties-notices" class="properties-notices" >' in saved.text  # replaced by a save
    lead = await session.get(Agent, shop.agents["lead"])
    await bulk_update(session, [ticket_id], Changes(status="solved"), agent=lead)
    refetch = await client.get(f"/console/tickets/{ticket_id}/properties", headers=htmx("ticket-properties"))
    # kept by a re-fetch: what the agent was shown after their save stays
    assert '<div id="properties-notices" class="properties-notices" hx-preserve>' in refetch.text
    assert '<span id="ticket-status" class="badge status-solved" hx-swap-oob="true">solved</span>' in refetch.text
    assert '<option value="solved" selected>' in refetch.text


async def test_a_save_waits_for_a_change_in_progress_and_does_not_overwrite_it(sessions, shop):
    from sqlalchemy import update

    from helpdesk.tickets import properties

    ticket_id = shop.ticket_ids[0]

    async def save_as(role: str, status: str):
        async with sessions() as session:
            agent = await session.get(Agent, shop.agents[role])
            ticket = await session.get(Ticket, ticket_id)
            return await properties.save(session, ticket, Changes(status=status),
                                         seen=properties.Seen({"status": "new"}), agent=agent)

    async with sessions() as other:
        await other.execute(update(Ticket).where(Ticket.id == ticket_id).values(status="solved"))  # not committed
        saving = asyncio.ensure_future(save_as("agent", "pending"))
        await asyncio.sleep(0.5)
        assert not saving.done()  # waits for the row
        await other.commit()
    saved = await saving
    assert [c.field for c in saved.conflicts] == ["status"] and saved.done == {}
    async with sessions() as session:
        assert (await session.get(Ticket, ticket_id)).status == "solved"
