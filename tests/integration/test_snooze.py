"""Snoozed tickets (helpdesk/tickets/snooze.py): validation, the queues, waking (also by several
callers at once and by a customer's reply), notifications, and the console's forms and bell."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from helpdesk.db import make_session_factory
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Agent, AuditEvent, Notification, Ticket, utcnow
from helpdesk.staff import notifications
from helpdesk.tickets import outbox, queues, snooze
from helpdesk.tickets.actions import Changes, TicketError, update_ticket
from tests.factories import inbound
from tests.support.console import app, client, csrf_from, htmx, shop, sign_in  # noqa: F401


def count_of(counts, name):
    return next(c.count for c in counts if c.name == name)


async def agent(session, shop, role="agent") -> Agent:
    return await session.get(Agent, shop.agents[role])


async def events(session, action):
    return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


async def test_snooze_refuses_the_past_more_than_a_year_and_closed_tickets(session, shop):
    bea = await agent(session, shop)
    ticket = await session.get(Ticket, shop.ticket_ids[0])
    now = utcnow()
    with pytest.raises(TicketError, match="has passed"):
        await snooze.snooze(session, ticket, now - timedelta(minutes=1), bea)
    with pytest.raises(TicketError, match="at most a year ahead"):
        await snooze.snooze(session, ticket, now + timedelta(days=366), bea)
    ticket.status = "solved"
    await session.commit()
    with pytest.raises(TicketError, match="solved ticket cannot be snoozed"):
        await snooze.snooze(session, ticket, now + timedelta(hours=1), bea)
    await session.refresh(ticket)
    assert ticket.snoozed_until is None and await events(session, "ticket.snoozed") == []


async def test_a_snoozed_ticket_leaves_the_queues_and_their_counts_and_is_listed_in_snoozed(session, shop):
    me = await agent(session, shop)
    first, second = shop.ticket_ids
    now = utcnow()
    # both breaching soon and mine, to see the snoozed one leave those too
    await session.execute(update(Ticket).values(assignee_id=me.id, first_response_due_at=now + timedelta(hours=2)))
    await session.commit()
    before = await queues.queue_counts(session, agent_id=me.id)
    assert [count_of(before, q) for q in ("mine", "open", "breaching", "snoozed")] == [2, 2, 2, 0]

    ticket = await session.get(Ticket, first)
    until = now + timedelta(hours=3)
    await snooze.snooze(session, ticket, until, me)
    assert ticket.status == "pending" and ticket.sla_paused_at is not None

    counts = await queues.queue_counts(session, agent_id=me.id)
    assert [count_of(counts, q) for q in ("mine", "open", "breaching", "pending", "snoozed", "channel:email")] == \
        [1, 1, 1, 0, 1, 1]
    for name in ("mine", "open", "breaching", "pending", "channel:email"):
        assert first not in [r.id for r in (await queues.list_queue(session, name, agent_id=me.id)).rows], name
    listed = await queues.list_queue(session, "snoozed", agent_id=me.id)
    assert [r.id for r in listed.rows] == [first]
    assert abs((listed.rows[0].snoozed_until - until).total_seconds()) < 1
    [event] = await events(session, "ticket.snoozed")
    assert event.object_id == first and event.agent_id == me.id and event.data == {"until": until.isoformat()}


async def test_the_snoozed_queue_lists_the_soonest_back_first_page_by_page(session, settings, shop):
    me = await agent(session, shop)
    for n in range(3):
        await ingest(session, inbound(sender=f"s{n}@example.com", subject=f"Snooze {n}"), settings=settings)
    ids = list(await session.scalars(select(Ticket.id).order_by(Ticket.id)))
    now = utcnow()
    for hours, ticket_id in zip((5, 1, 4, 2, 3), ids):
        await snooze.snooze(session, await session.get(Ticket, ticket_id), now + timedelta(hours=hours), me)
    seen, cursor = [], None
    while True:
        page = await queues.list_queue(session, "snoozed", agent_id=me.id, cursor=cursor, limit=2)
        seen += [r.id for r in page.rows]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == [ids[1], ids[3], ids[4], ids[2], ids[0]]


async def test_unsnooze_brings_it_back_open_with_the_clock_moved_on(session, shop):
    me = await agent(session, shop)
    ticket = await session.get(Ticket, shop.ticket_ids[0])
    due = utcnow() + timedelta(hours=8)
    ticket.resolution_due_at = due
    await session.commit()
    await snooze.snooze(session, ticket, utcnow() + timedelta(days=1), me)
    await session.execute(update(Ticket).where(Ticket.id == ticket.id)
                          .values(sla_paused_at=utcnow() - timedelta(hours=2)))  # snoozed two hours ago
    await session.commit()
    await session.refresh(ticket)
    assert await snooze.unsnooze(session, ticket, me) is True
    assert ticket.snoozed_until is None and ticket.status == "open" and ticket.sla_paused_at is None
    assert timedelta(hours=1, minutes=59) < ticket.resolution_due_at - due < timedelta(hours=2, minutes=1)
    assert await snooze.unsnooze(session, ticket, me) is False  # a second click changes nothing
    assert len(await events(session, "ticket.unsnoozed")) == 1
    assert shop.ticket_ids[0] in [r.id for r in (await queues.list_queue(session, "open", agent_id=me.id)).rows]


async def test_setting_the_status_ends_the_snooze_unless_it_stays_paused(session, settings, shop):
    me = await agent(session, shop)
    ticket, other = [await session.get(Ticket, i) for i in shop.ticket_ids]
    await snooze.snooze(session, ticket, utcnow() + timedelta(hours=1), me)
    await update_ticket(session, ticket, Changes(status="on_hold"), agent=me)
    assert ticket.snoozed_until is not None
    await update_ticket(session, ticket, Changes(status="open"), agent=me)
    assert ticket.snoozed_until is None
    await snooze.snooze(session, other, utcnow() + timedelta(hours=1), me)
    await outbox.queue_reply(session, other, settings=settings, text="Sorted.", agent=me, status_after="solved")
    assert other.snoozed_until is None and other.status == "solved"
    assert count_of(await queues.queue_counts(session, agent_id=me.id), "snoozed") == 0


async def test_wake_due_brings_due_tickets_back_and_notifies_the_assignee_or_the_snoozer(session, shop):
    bea, lena = await agent(session, shop), await agent(session, shop, "lead")
    assigned, unassigned = [await session.get(Ticket, i) for i in shop.ticket_ids]
    assigned.assignee_id = lena.id
    await session.commit()
    now = utcnow()
    await snooze.snooze(session, assigned, now + timedelta(minutes=10), bea)
    await snooze.snooze(session, unassigned, now + timedelta(hours=2), bea)

    assert await snooze.wake_due(session, now + timedelta(minutes=5)) == []
    assert await snooze.wake_due(session, now + timedelta(minutes=11)) == [assigned.id]
    await session.refresh(assigned)
    assert assigned.snoozed_until is None and assigned.status == "open"
    [note] = list(await session.scalars(select(Notification)))
    assert (note.agent_id, note.kind, note.ticket_id, note.read_at) == (lena.id, "snooze.woken", assigned.id, None)
    assert note.text == f"#{assigned.number} 'Where is my order?' is back from snooze"
    [woken] = await events(session, "ticket.woken")
    assert woken.object_id == assigned.id and woken.agent_id is None
    assert woken.data["until"].startswith((now + timedelta(minutes=10)).isoformat()[:16])

    assert await snooze.wake_due(session, now + timedelta(hours=3)) == [unassigned.id]
    newest = await notifications.recent(session, bea.id)
    assert [n.ticket_id for n in newest] == [unassigned.id]  # nobody assigned: whoever snoozed it hears
    assert await notifications.unread_count(session, bea.id) == 1
    counts = await queues.queue_counts(session, agent_id=bea.id)
    assert count_of(counts, "snoozed") == 0 and count_of(counts, "open") == 2


async def test_a_ticket_solved_while_snoozed_comes_back_silently(session, shop):
    me = await agent(session, shop)
    ticket = await session.get(Ticket, shop.ticket_ids[0])
    await snooze.snooze(session, ticket, utcnow() + timedelta(minutes=1), me)
    await session.execute(update(Ticket).where(Ticket.id == ticket.id).values(status="closed"))  # e.g. merged away
    await session.commit()
    assert await snooze.wake_due(session, utcnow() + timedelta(minutes=2)) == []
    await session.refresh(ticket)
    assert ticket.snoozed_until is None and ticket.status == "closed"
    assert await session.scalar(select(func.count()).select_from(Notification)) == 0


async def _snooze_many(session, settings, shop, count: int) -> list[int]:
    lena = await agent(session, shop, "lead")
    for n in range(count - len(shop.ticket_ids)):
        await ingest(session, inbound(sender=f"w{n}@example.com", subject=f"Wake {n}"), settings=settings)
    await session.execute(update(Ticket).values(status="pending", assignee_id=lena.id,
                                                snoozed_until=utcnow() - timedelta(seconds=5)))
    await session.commit()
    return list(await session.scalars(select(Ticket.id)))


async def _woken_once(session, ids) -> None:
    notified = (await session.execute(select(Notification.ticket_id, func.count()).group_by(Notification.ticket_id))).all()
    assert sorted(notified) == sorted((i, 1) for i in ids)
    audited = (await session.execute(select(AuditEvent.object_id, func.count())
                                     .where(AuditEvent.action == "ticket.woken").group_by(AuditEvent.object_id))).all()
    assert sorted(audited) == sorted((i, 1) for i in ids)
    assert await session.scalar(select(func.count()).select_from(Ticket).where(Ticket.snoozed_until.is_not(None))) == 0


async def test_callers_racing_wake_each_ticket_once(session, engine, settings, shop):
    ids = await _snooze_many(session, settings, shop, 60)
    sessions = make_session_factory(engine)

    async def sweep():
        async with sessions() as own:
            return await snooze.wake_due(own)

    results = await asyncio.gather(*(sweep() for _ in range(4)))
    assert sorted(i for woken in results for i in woken) == sorted(ids)
    await _woken_once(session, ids)


async def test_on_postgresql_a_locked_ticket_is_left_for_the_next_sweep_not_woken_twice(session, engine, settings,
                                                                                        shop, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL")
    ids = await _snooze_many(session, settings, shop, 20)
    sessions = make_session_factory(engine)
    async with sessions() as holder:  # an agent's transaction holding one due ticket
        await holder.execute(text("SELECT id FROM tickets WHERE id = :id FOR UPDATE"), {"id": ids[0]})

        async def sweep():
            async with sessions() as own:
                return await snooze.wake_due(own)

        first = await asyncio.wait_for(asyncio.gather(sweep(), sweep()), 10)  # neither waits for the lock
        assert ids[0] not in [i for woken in first for i in woken]
        assert sorted(i for woken in first for i in woken) == sorted(ids[1:])
        await holder.rollback()
    async with sessions() as own:
        assert await snooze.wake_due(own) == [ids[0]]
    await _woken_once(session, ids)


async def test_a_customer_reply_wakes_a_snoozed_ticket_but_an_auto_reply_does_not(session, settings, shop):
    me = await agent(session, shop)
    ticket = await session.get(Ticket, shop.ticket_ids[0])
    await snooze.snooze(session, ticket, utcnow() + timedelta(days=2), me)
    await ingest(session, inbound(subject="Out of office", token=ticket.number, auto_generated=True), settings=settings)
    await session.refresh(ticket)
    assert ticket.snoozed_until is not None and ticket.status == "pending"
    await ingest(session, inbound(subject=f"Re: [#{ticket.number}] Where is my order?", token=ticket.number,
                                  text="Any news?"), settings=settings)
    await session.refresh(ticket)
    assert ticket.snoozed_until is None and ticket.status == "open" and ticket.sla_paused_at is None
    counts = await queues.queue_counts(session, agent_id=me.id)
    assert count_of(counts, "snoozed") == 0 and count_of(counts, "open") == 2


# -- the console -------------------------------------------------------------------------------------

async def test_agent_snoozes_with_a_preset_and_unsnoozes_in_the_console(client, session, shop):
    token = await sign_in(client)
    ticket_id = shop.ticket_ids[0]
    page = await client.get(f"/console/tickets/{ticket_id}")
    assert 'id="snooze-presets"' in page.text and 'name="tz"' in page.text and "snooze-state" not in page.text
    response = await client.post(f"/console/tickets/{ticket_id}/snooze", data={"preset": "tomorrow", "tz": "Europe/Berlin"},
                                 headers=htmx("ticket-properties", token))
    assert response.status_code == 200
    ticket = await session.get(Ticket, ticket_id)
    await session.refresh(ticket)
    local = ticket.snoozed_until.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (9, 0) and ticket.status == "pending"
    assert 'id="snooze-state"' in response.text and "Snoozed until" in response.text
    assert 'id="unsnooze-button"' in response.text and 'id="count-snoozed"' in response.text  # counts out of band
    response = await client.post(f"/console/tickets/{ticket_id}/unsnooze", headers=htmx("ticket-properties", token))
    await session.refresh(ticket)
    assert response.status_code == 200 and ticket.snoozed_until is None and "snooze-state" not in response.text


async def test_a_time_in_the_past_is_refused_next_to_the_field(client, session, shop):
    token = await sign_in(client)
    ticket_id = shop.ticket_ids[0]
    response = await client.post(f"/console/tickets/{ticket_id}/snooze", data={"until": "2020-01-01T09:00", "tz": "UTC"},
                                 headers=htmx("ticket-properties", token))
    assert response.status_code == 200 and response.headers["HX-Retarget"] == "#ticket-properties"
    assert 'id="snooze-error"' in response.text and "that time has passed" in response.text
    assert 'value="2020-01-01T09:00"' in response.text and "<details class=\"snooze-menu\" open" in response.text
    plain = await client.post(f"/console/tickets/{ticket_id}/snooze",
                              data={"until": "soon", "_csrf_token": csrf_from(response.text)}, follow_redirects=False)
    assert plain.status_code == 400 and "is not a date and time" in plain.text
    ticket = await session.get(Ticket, ticket_id)
    await session.refresh(ticket)
    assert ticket.snoozed_until is None


async def test_the_bell_counts_unread_and_the_page_reads_them(client, session, shop):
    me = shop.agents["agent"]
    agents = notifications.notify(session, [
        notifications.Notice(me, "snooze.woken", "#1 'Where is my order?' is back from snooze", shop.ticket_ids[0]),
        notifications.Notice(me, "snooze.woken", "#2 '<b>Broken</b> teapot' is back from snooze", shop.ticket_ids[1]),
        notifications.Notice(shop.agents["lead"], "snooze.woken", "not for Bea", shop.ticket_ids[1]),
    ])
    await session.commit()
    assert agents == {me, shop.agents["lead"]}
    token = await sign_in(client)
    page = await client.get("/console/")
    assert 'hx-get="/console/notifications/bell"' in page.text and 'hx-trigger="sse:notifications"' in page.text
    bell = await client.get("/console/notifications/bell", headers=htmx("notification-bell"))
    assert 'id="notification-count"' in bell.text and ">2</span>" in bell.text and "2 unread" in bell.text
    listing = await client.get("/console/notifications")
    assert listing.text.count('class="notification unread"') == 2 and "not for Bea" not in listing.text
    assert "&lt;b&gt;Broken&lt;/b&gt;" in listing.text and "<b>Broken" not in listing.text
    [mine] = [n for n in await notifications.recent(session, me) if n.ticket_id == shop.ticket_ids[0]]
    opened = await client.post(f"/console/notifications/{mine.id}/open", data={"_csrf_token": csrf_from(listing.text)},
                               follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/console/tickets/{shop.ticket_ids[0]}"
    assert await notifications.unread_count(session, me) == 1
    lenas = [n for n in await notifications.recent(session, shop.agents["lead"])]
    stranger = await client.post(f"/console/notifications/{lenas[0].id}/open", headers=htmx(token=token))
    assert stranger.status_code == 404  # someone else's notification
    read = await client.post("/console/notifications/read", headers=htmx("notifications", token))
    assert read.status_code == 200 and 'class="notification unread"' not in read.text
    assert 'id="notification-bell"' in read.text and 'hx-swap-oob="true"' in read.text
    assert await notifications.unread_count(session, me) == 0
    assert await notifications.unread_count(session, shop.agents["lead"]) == 1


async def test_a_notification_reaches_the_agents_queue_stream_as_its_own_event(shop):
    from litestar.channels import ChannelsPlugin
    from litestar.channels.backends.memory import MemoryChannelsBackend

    from helpdesk import live
    from helpdesk.web.console import live as live_web

    plugin = ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)

    def publish(name, event):
        plugin.publish(event, name)

    async with plugin:
        live.add_publisher(publish)
        try:
            stream = live_web.queue_stream(plugin, agent_id=7)
            assert (await stream.__anext__()).comment == "connected"
            async def next_event():
                while True:  # keep-alives (one comes at once: the stream marks the agent online) are not events
                    message = await stream.__anext__()
                    if message.event:
                        return message

            pending = asyncio.ensure_future(next_event())
            await asyncio.sleep(0.05)
            notifications.announce([7])
            notifications.announce([8])  # another agent's: not on this stream
            assert (await asyncio.wait_for(pending, 3)).event == "notifications"
            await stream.aclose()
        finally:
            live.remove_publisher(publish)
