"""Queue orders (`?sort=`), last activity on the rows, and the bulk bar by name: on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import event, func, insert, select, update

from helpdesk.inbound.ingest import ingest
from helpdesk.models import PRIORITIES, Agent, Message, Ticket, TicketTag, utcnow
from helpdesk.tickets import queues
from tests.factories import inbound
from tests.integration.test_console_queues import _plan
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401


async def varied_tickets(session, settings, shop) -> dict[int, dict]:
    """Nine open tickets whose activity, creation, priority and due times tie in places (the id
    breaks ties); one is paused with a due time, two have none."""
    now = utcnow().replace(microsecond=0)
    ids = list(shop.ticket_ids)
    for n in range(7):
        ids.append((await ingest(session, inbound(sender=f"s{n}@example.com", subject=f"Sort test {n}"),
                                 settings=settings)).ticket_id)
    values = {}
    for k, ticket_id in enumerate(ids):
        values[ticket_id] = dict(
            priority=PRIORITIES[k % 4], status="pending" if k == 4 else "open",
            updated_at=now - timedelta(minutes=(k * 37) % 5 * 10), created_at=now - timedelta(hours=k % 3),
            first_response_due_at=now + timedelta(minutes=(k * 13) % 4 * 15) if k % 3 else None,
            next_response_due_at=None, resolution_due_at=None, sla_paused_at=now if k == 4 else None)
        await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values[ticket_id]))
    await session.commit()
    return values


def expected_order(values: dict[int, dict], sort: str) -> list[int]:
    def key(item, *names):
        return tuple(item[1][n] for n in names) + (item[0],)

    rank = {"urgent": 3, "high": 2, "normal": 1, "low": 0}
    items = list(values.items())
    if sort == "activity":
        return [i for i, _ in sorted(items, key=lambda it: key(it, "updated_at"), reverse=True)]
    if sort == "oldest":
        return [i for i, _ in sorted(items, key=lambda it: key(it, "updated_at"))]
    if sort == "created":
        return [i for i, _ in sorted(items, key=lambda it: key(it, "created_at"), reverse=True)]
    if sort == "priority":
        return [i for i, _ in sorted(items, key=lambda it: (rank[it[1]["priority"]], it[1]["updated_at"], it[0]),
                                     reverse=True)]
    running = [it for it in items if it[1]["first_response_due_at"] and not it[1]["sla_paused_at"]]
    rest = [it for it in items if it not in running]
    return ([i for i, _ in sorted(running, key=lambda it: key(it, "first_response_due_at"))]
            + [i for i, _ in sorted(rest, key=lambda it: key(it, "updated_at"), reverse=True)])


async def walk(session, name: str, sort: str, limit: int = 2) -> list[int]:
    seen, cursor = [], None
    while True:
        page = await queues.list_queue(session, name, agent_id=0, sort=sort, cursor=cursor, limit=limit)
        assert page.sort == sort
        seen += [r.id for r in page.rows]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def test_every_order_pages_by_keyset_through_every_ticket_once(session, settings, shop):
    values = await varied_tickets(session, settings, shop)
    assert queues.sorts_for("open") == ("activity", "oldest", "created", "priority", "due")
    for sort in queues.sorts_for("open"):
        assert await walk(session, "open", sort) == expected_order(values, sort), sort
        assert await walk(session, "open", sort, limit=50) == expected_order(values, sort), sort
    # the due order shows a running due time, never a paused one
    page = await queues.list_queue(session, "open", agent_id=0, sort="due")
    paused = next(i for i, v in values.items() if v["sla_paused_at"])
    assert next(r for r in page.rows if r.id == paused).next_due_at is None
    due = [r for r in page.rows if r.next_due_at]
    assert [r.breached for r in due] == [values[r.id]["first_response_due_at"] <= utcnow() for r in due]
    assert any(r.breached for r in due) and not all(r.breached for r in due)  # due "now" (+0 min) has passed


async def test_an_order_a_queue_does_not_offer_or_a_foreign_cursor_means_its_default_first_page(session, shop):
    assert (await queues.list_queue(session, "solved", agent_id=0, sort="priority")).sort == "activity"
    assert (await queues.list_queue(session, "breaching", agent_id=0, sort="created")).sort == "due"
    assert (await queues.list_queue(session, "open", agent_id=0, sort="bogus")).sort == "activity"
    now = utcnow()
    assert queues.decode_cursor(queues.encode_cursor(3, now, 7), "priority") == (3, now, 7)
    assert queues.decode_cursor(queues.encode_cursor(3, now, 7), "created") is None
    assert queues.decode_cursor(queues.encode_cursor(9, now, 7), "priority") is None  # no such rank
    assert queues.decode_cursor(queues.encode_cursor(now, 2**40), "activity") is None  # no such id
    assert queues.decode_cursor(queues.encode_cursor(None, now, 7), "due") == (None, now, 7)
    first = await queues.list_queue(session, "open", agent_id=0, sort="created",
                                    cursor=queues.encode_cursor(3, now, 7))
    assert [r.id for r in first.rows] == sorted(shop.ticket_ids, reverse=True)


ORDER_INDEXES = [
    ("open", "activity", "ix_tickets_open_updated"),
    ("open", "oldest", "ix_tickets_open_updated"),
    ("open", "created", "ix_tickets_open_created"),
    ("open", "priority", "ix_tickets_open_priority"),
    ("open", "due", "ix_tickets_open_due"),
    ("solved", "activity", "ix_tickets_solved_updated"),
    ("solved", "created", "ix_tickets_solved_created"),
    ("pending", "priority", "ix_tickets_open_priority"),  # PostgreSQL: "pending" implies the open statuses
]


@pytest.mark.parametrize("name, sort, index", ORDER_INDEXES)
async def test_each_order_walks_its_index_instead_of_sorting(session, settings, shop, name, sort, index):
    """Migration 0011: the first page and the pages after a cursor read the index in the order
    shown; a sort step would read the whole queue on every page (tiny test tables would be
    scanned anyway, so the database is asked to use the index: SQLite refuses when it cannot)."""
    if name == "pending" and session.bind.dialect.name == "sqlite":
        pytest.skip("SQLite uses a partial index only when the query repeats its condition word for word")
    await varied_tickets(session, settings, shop)
    if name == "solved":
        await session.execute(update(Ticket).values(status="solved"))
        await session.commit()
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, params, context, executemany):
        if "FROM tickets JOIN customers" in statement:
            seen.append((statement, params))

    engine = session.bind.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        first = await queues.list_queue(session, name, agent_id=0, sort=sort, limit=2)
        await queues.list_queue(session, name, agent_id=0, sort=sort, limit=2, cursor=first.next_cursor)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    for statement, params in seen[:2]:  # the due order: its first walk (running due times) twice
        if session.bind.dialect.name == "postgresql":
            await session.execute(select(func.set_config("enable_sort", "off", True)))
        plan = await session.run_sync(_plan, statement, params, index)
        assert index in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan and "Sort" not in plan, plan
    await session.rollback()


async def add_tickets(session, shop, count: int) -> None:
    now = utcnow()
    await session.execute(insert(Ticket), [
        dict(subject=f"Crowd {n}", status="open", priority=PRIORITIES[n % 4], channel="email",
             customer_id=shop.customer_id, created_at=now - timedelta(minutes=n), updated_at=now - timedelta(minutes=n))
        for n in range(count)])
    await session.commit()


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="queue-row [^"]*" data-ticket-id="(\d+)"', html)]


async def test_the_order_stays_across_paging_live_refresh_filters_and_bulk_actions(client, shop, session):
    await add_tickets(session, shop, 60)
    token = await sign_in(client, "agent")
    page = await client.get("/console/queues/open?sort=priority")
    assert '<option value="priority" selected>Priority</option>' in page.text
    assert 'id="queue-sort" name="sort" form="queue-filters"' in page.text  # a filter change sends it along
    refresh = re.search(r'id="queue-refresh" hx-get="([^"]+)"', page.text).group(1)
    assert unescape(refresh) == "/console/queues/open?sort=priority"
    assert '<input type="hidden" name="sort" value="priority">' in page.text  # the bulk form
    seen = row_ids(page.text)
    while (more := re.search(r'id="queue-next" class="pager" rel="next"\s+href="([^"]+)"', page.text)):
        assert "sort=priority" in unescape(more.group(1))
        page = await client.get(unescape(more.group(1)), headers=htmx("queue-pane"))
        assert '<option value="priority" selected>' in page.text
        seen += row_ids(page.text)
    rank = {"urgent": 3, "high": 2, "normal": 1, "low": 0}
    rows = (await session.execute(select(Ticket.id, Ticket.priority, Ticket.updated_at))).all()
    assert seen == [r.id for r in sorted(rows, key=lambda r: (rank[r.priority], r.updated_at, r.id), reverse=True)]

    filtered = await client.get("/console/queues/open?priority=urgent&sort=created", headers=htmx("queue-pane"))
    assert '<option value="created" selected>' in filtered.text
    created = (await session.execute(select(Ticket.id, Ticket.created_at).where(Ticket.priority == "urgent"))).all()
    assert row_ids(filtered.text) == [r.id for r in sorted(created, key=lambda r: (r.created_at, r.id), reverse=True)]
    assert 'href="/console/queues/open?sort=created" hx-get="/console/queues/open?sort=created"' in filtered.text  # Clear

    bulk = await client.post("/console/queues/bulk", headers=htmx("queue-pane", token), data={
        "ticket_ids": str(seen[0]), "action": "status:pending", "queue": "open", "sort": "oldest"})
    assert '<option value="oldest" selected>' in bulk.text


async def test_rows_show_their_last_activity_relative_with_the_exact_time(client, shop, session):
    when = utcnow().replace(microsecond=0) - timedelta(hours=2, minutes=5)
    await session.execute(update(Ticket).where(Ticket.id == shop.ticket_ids[0]).values(updated_at=when))
    await session.commit()
    await sign_in(client, "agent")
    page = await client.get("/console/queues/open")
    row = page.text[page.text.index(f'data-ticket-id="{shop.ticket_ids[0]}"'):]
    exact = when.strftime("%a %-d %b %Y, %H:%M UTC")
    assert (f'<time datetime="{when.isoformat().replace("+00:00", "Z")}" data-ago="Last activity" '
            f'title="Last activity: {exact}">2 h ago</time>') in row
    # in the due order a row says when its SLA is due, or that it was breached
    await session.execute(update(Ticket).where(Ticket.id == shop.ticket_ids[0]).values(first_response_due_at=when))
    await session.execute(update(Ticket).where(Ticket.id == shop.ticket_ids[1])
                          .values(first_response_due_at=utcnow() + timedelta(hours=3, minutes=5)))
    await session.commit()
    page = (await client.get("/console/queues/open?sort=due")).text
    assert re.search(r'<span class="due breached">breached <time [^>]*>2 h ago</time>', page)
    assert re.search(r'<span class="due ">due <time [^>]*>in 3 h</time>', page)


async def test_bulk_bar_chooses_agents_and_teams_by_name_and_says_what_it_did(client, shop, session):
    token = await sign_in(client, "agent")
    lead, admin = shop.agents["lead"], shop.agents["admin"]
    await session.execute(update(Agent).where(Agent.id == admin).values(active=False))
    await session.commit()
    pane = (await client.get("/console/queues/open", headers=htmx("queue-pane"))).text
    bar = pane[pane.index('id="bulk-form"'):pane.index("</form>", pane.index('id="bulk-form"'))]
    assert f'<option value="assign:{lead}" >Lena Lead</option>' in bar
    assert '<option value="assign:me" >Me (Bea Agent)</option>' in bar and "Unassigned" in bar
    assert f'<option value="team:{shop.team_id}" >Support</option>' in bar
    assert "Alex Admin" not in bar  # deactivated
    assert "agent id" not in bar and 'list="bulk-values"' not in bar

    def post(action, value="", ids=shop.ticket_ids, headers=None):
        return client.post("/console/queues/bulk", headers=headers or htmx("queue-pane", token), data={
            "ticket_ids": [str(t) for t in ids], "action": action, "value": value, "queue": "open"})

    done = await post(f"assign:{lead}")
    assert "2 tickets assigned to Lena Lead." in done.text
    assert set(await session.scalars(select(Ticket.assignee_id).execution_options(populate_existing=True))) == {lead}
    assert "0 tickets assigned to Lena Lead; 2 already were." in (await post(f"assign:{lead}")).text
    assert "1 ticket assigned to Bea Agent." in (await post("assign:me", ids=shop.ticket_ids[:1])).text
    assert "2 tickets moved to team Support." in (await post(f"team:{shop.team_id}")).text
    assert "2 tickets set to urgent priority." in (await post("priority:urgent")).text
    assert "2 tickets tagged vip." in (await post("tag", "VIP")).text
    assert set(await session.scalars(select(TicketTag.tag))) == {"vip"}
    assert "1 ticket unassigned." in (await post("assign:none", ids=shop.ticket_ids[1:])).text

    # errors are the bar's, next to its controls; the choice made is kept
    refused = await post(f"assign:{admin}")
    assert refused.status_code == 200 and 'id="bulk-error">that agent does not exist or is deactivated<' in refused.text
    assert f'<option value="assign:{admin}"' not in refused.text
    untagged = await post("tag", "")
    assert 'id="bulk-error">write the tag to add<' in untagged.text
    assert '<option value="tag" selected>' in untagged.text
    assert re.search(r'id="bulk-tags"[^>]*aria-invalid="true"', untagged.text)
    assert 'id="bulk-error">select at least one ticket<' in (await post("status:solved", ids=[])).text
    assert 'id="bulk-error">choose what to change on the selected tickets<' in (await post("")).text
    plain = await post("assign:none", ids=[], headers={"x-csrftoken": token})
    assert plain.status_code == 400 and "<html" in plain.text and 'id="bulk-error">select at least one ticket<' in plain.text


async def test_every_kind_of_activity_brings_its_ticket_to_the_top_of_last_activity(session, settings, shop):
    """updated_at is the last activity: a customer's message, an agent's reply or note, a property."""
    from helpdesk.tickets import actions, outbox

    first, second = shop.ticket_ids
    await session.execute(update(Ticket).values(updated_at=utcnow() - timedelta(days=3)))
    await session.commit()
    agent = await session.get(Agent, shop.agents["agent"])

    async def top() -> int:
        return (await queues.list_queue(session, "open", agent_id=0)).rows[0].id

    async def ticket(ticket_id):
        return await session.get(Ticket, ticket_id, populate_existing=True)

    await ingest(session, inbound(sender="ann@example.com", subject="Re: Broken teapot", token=second), settings=settings)
    assert await top() == second
    await actions.add_note(session, await ticket(first), agent=agent, text="Called the courier.")
    assert await top() == first
    await outbox.queue_reply(session, await ticket(second), settings=settings, agent=agent, text="A new one is on its way.")
    assert await top() == second
    await actions.update_ticket(session, await ticket(first), actions.Changes(priority="high"), agent=agent)
    assert await top() == first


async def test_demo_seed_stamps_each_ticket_with_its_last_message(settings):
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.tools.demo import seed_demo

    await seed_demo(settings, customers=4, tickets=8)
    engine = make_engine(settings)
    try:
        async with make_session_factory(engine)() as session:
            last = (select(Message.ticket_id, func.max(Message.created_at).label("at"))
                    .group_by(Message.ticket_id).subquery())
            rows = (await session.execute(select(Ticket.updated_at, last.c.at).join(last, last.c.ticket_id == Ticket.id))).all()
    finally:
        await engine.dispose()
    assert len(rows) >= 4
    for updated_at, at in rows:
        at = at if at.tzinfo else at.replace(tzinfo=updated_at.tzinfo)
        assert updated_at == at

    # an agent works on a demo ticket; seeding again (serve --demo does at every start) keeps that
    engine = make_engine(settings)
    try:
        async with make_session_factory(engine)() as session:
            worked = await session.scalar(select(func.min(Ticket.id)))
            now = utcnow()
            await session.execute(update(Ticket).where(Ticket.id == worked).values(updated_at=now))
            await session.commit()
        await seed_demo(settings, customers=4, tickets=8)
        async with make_session_factory(engine)() as session:
            assert await session.scalar(select(Ticket.updated_at).where(Ticket.id == worked)) == now
    finally:
        await engine.dispose()
