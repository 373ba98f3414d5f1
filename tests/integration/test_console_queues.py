"""Queues: definitions, counts, filters, keyset pagination and bulk actions; pages and fragments."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from helpdesk.tickets import queues
from helpdesk.models import Ticket, TicketTag, utcnow
from helpdesk.tickets.actions import Changes, bulk_update
from tests.factories import inbound
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401
from helpdesk.inbound.ingest import ingest


def count_of(counts, name):
    return next(c.count for c in counts if c.name == name)


async def test_counts_follow_assignment_status_and_channel(session, shop):
    agent = shop.agents["agent"]
    counts = await queues.queue_counts(session, agent_id=agent)
    assert count_of(counts, "open") == 2 and count_of(counts, "unassigned") == 2 and count_of(counts, "mine") == 0
    assert count_of(counts, "channel:email") == 2 and count_of(counts, f"team:{shop.team_id}") == 0

    # as every change in the app does (tests/integration/test_queue_sorts.py checks each), the
    # update moves updated_at: the counts' cache sees changes by it
    await session.execute(update(Ticket).where(Ticket.id == shop.ticket_ids[0])
                          .values(assignee_id=agent, team_id=shop.team_id, updated_at=utcnow()))
    await session.execute(update(Ticket).where(Ticket.id == shop.ticket_ids[1])
                          .values(status="pending", updated_at=utcnow()))
    await session.commit()
    counts = await queues.queue_counts(session, agent_id=agent)
    assert count_of(counts, "mine") == 1 and count_of(counts, "unassigned") == 1
    assert count_of(counts, "pending") == 1 and count_of(counts, "open") == 2
    assert count_of(counts, f"team:{shop.team_id}") == 1


async def test_filters_narrow_a_queue(session, shop):
    session.add(TicketTag(ticket_id=shop.ticket_ids[1], tag="refund"))
    await session.execute(update(Ticket).where(Ticket.id == shop.ticket_ids[1]).values(priority="urgent"))
    await session.commit()
    page = await queues.list_queue(session, "open", agent_id=shop.agents["agent"],
                                   filters=queues.Filters(priority="urgent"))
    assert [r.id for r in page.rows] == [shop.ticket_ids[1]]
    page = await queues.list_queue(session, "open", agent_id=0, filters=queues.Filters(tag="refund"))
    assert [r.id for r in page.rows] == [shop.ticket_ids[1]] and page.rows[0].tags == ["refund"]
    page = await queues.list_queue(session, "open", agent_id=0, filters=queues.Filters(assignee="none", channel="chat"))
    assert page.rows == []
    assert queues.Filters.from_query({"status": "bogus", "assignee": "x; drop", "tag": "Refund"}) == queues.Filters(tag="refund")


async def test_keyset_pagination_walks_every_ticket_once(session, settings, shop):
    for n in range(7):
        await ingest(session, inbound(sender=f"p{n}@example.com", subject=f"Page test {n}"), settings=settings)
    # equal timestamps on purpose: the id breaks the tie, so no row is skipped or repeated
    same = utcnow()
    await session.execute(update(Ticket).values(updated_at=same))
    await session.commit()
    seen, cursor = [], None
    while True:
        page = await queues.list_queue(session, "open", agent_id=0, cursor=cursor, limit=3)
        seen += [r.id for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    all_ids = list(await session.scalars(select(Ticket.id).order_by(Ticket.id.desc())))
    assert seen == all_ids and len(seen) == 9
    assert queues.decode_cursor("not-a-cursor") is None


async def test_breaching_soon_orders_by_nearest_due_time(session, shop):
    now = utcnow()
    first, second = shop.ticket_ids
    await session.execute(update(Ticket).where(Ticket.id == first).values(
        first_response_due_at=now + timedelta(hours=5), resolution_due_at=now + timedelta(hours=1)))
    await session.execute(update(Ticket).where(Ticket.id == second).values(
        first_response_due_at=now + timedelta(minutes=30), resolution_due_at=None))
    await session.commit()
    page = await queues.list_queue(session, "breaching", agent_id=0)
    assert [r.id for r in page.rows] == [second, first]
    assert abs((page.rows[1].next_due_at - (now + timedelta(hours=1))).total_seconds()) < 1
    page2 = await queues.list_queue(session, "breaching", agent_id=0, limit=1)
    rest = await queues.list_queue(session, "breaching", agent_id=0, limit=1, cursor=page2.next_cursor)
    assert [r.id for r in page2.rows + rest.rows] == [second, first]


async def test_bulk_update_assigns_sets_status_and_tags(session, shop):
    from helpdesk.models import Agent

    agent = await session.get(Agent, shop.agents["agent"])
    done = await bulk_update(session, shop.ticket_ids, Changes(assignee_id=agent.id, priority="high",
                                                                add_tags=("vip",)), agent=agent)
    assert all(done[t] for t in shop.ticket_ids)
    rows = (await session.execute(select(Ticket.assignee_id, Ticket.priority))).all()
    assert set(rows) == {(agent.id, "high")}
    assert len(list(await session.scalars(select(TicketTag).where(TicketTag.tag == "vip")))) == 2


async def test_queue_page_and_fragment_render_the_same_list(client, shop):
    await sign_in(client, "agent")
    page = await client.get("/console/queues/open")
    assert page.status_code == 200 and page.headers["vary"] == "HX-Request"
    assert 'id="queue-list"' in page.text and f'data-ticket-id="{shop.ticket_ids[0]}"' in page.text
    assert "<html" in page.text
    fragment = await client.get("/console/queues/open", headers=htmx("queue-pane"))
    assert "<html" not in fragment.text and 'id="queue-list"' in fragment.text
    assert f'data-ticket-id="{shop.ticket_ids[0]}"' in fragment.text
    restore = await client.get("/console/queues/open", headers={**htmx("queue-pane"), "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text
    counts = await client.get("/console/queues/counts", headers=htmx())
    assert 'id="count-open">2<' in counts.text
    assert (await client.get("/console/queues/nope")).status_code == 404


async def test_bulk_form_applies_to_selected_rows(client, shop, session):
    token = await sign_in(client, "agent")
    response = await client.post("/console/queues/bulk", headers=htmx("queue-pane", token), data={
        "ticket_ids": [str(t) for t in shop.ticket_ids], "action": "status:pending", "queue": "open"})
    assert response.status_code == 200 and "2 tickets set to pending." in response.text
    statuses = set(await session.scalars(select(Ticket.status).execution_options(populate_existing=True)))
    assert statuses == {"pending"}
    bad = await client.post("/console/queues/bulk", headers=htmx("queue-pane", token),
                            data={"action": "status:pending"})
    assert "select at least one ticket" in bad.text


async def test_counts_stop_at_the_cap_and_say_so(session, shop, monkeypatch):
    monkeypatch.setattr(queues, "COUNT_CAP", 1)
    counts = await queues.queue_counts(session, agent_id=shop.agents["agent"])
    open_count = next(c for c in counts if c.name == "open")
    assert open_count.count == 2 and open_count.label == "1+"


async def test_a_page_renders_its_queue_nav_first_and_fetches_the_counts_after(client, shop):
    await sign_in(client, "agent")
    page = await client.get("/console/queues/open")
    nav = page.text[page.text.index('id="queue-nav"'):page.text.index("</nav>", page.text.index('id="queue-nav"'))]
    assert 'hx-get="/console/queues/counts" hx-trigger="load, sse:counts"' in nav
    assert 'id="count-open"></span>' in nav  # no count yet: the page did not wait for it
    counts = await client.get("/console/queues/counts", headers=htmx("queue-nav"))
    assert 'id="count-open">2<' in counts.text and 'hx-trigger="sse:counts"' in counts.text  # no reload loop


def _plan(sync_session, statement: str, params, index: str) -> str:
    """The plan when the database is asked to use `index`: it refuses (SQLite) or passes it
    by (PostgreSQL) when the query does not match the index. Tiny test tables would otherwise
    be scanned whatever the indexes."""
    conn = sync_session.connection()
    if conn.dialect.name == "sqlite":
        statement = statement.replace("FROM tickets ", f"FROM tickets INDEXED BY {index} ", 1)
        return " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return " ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, params))


async def test_breaching_soon_and_the_capped_counts_walk_their_indexes(session, shop):
    """The expression index (migration 0006) serves only a query that spells next_due() the same way."""
    from sqlalchemy import event

    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append((statement, params))

    engine = session.bind.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await queues.list_queue(session, "breaching", agent_id=shop.agents["agent"])
        await queues.queue_counts(session, agent_id=shop.agents["agent"])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    listing = next(s for s in seen if "ORDER BY CASE" in s[0] and "count(" not in s[0])
    plan = await session.run_sync(_plan, *listing, "ix_tickets_next_due")
    # walked in next_due order, not sorted afterwards: only a matching expression gives that
    assert "ix_tickets_next_due" in plan and "TEMP B-TREE FOR ORDER BY" not in plan and "Sort" not in plan
    if session.bind.dialect.name == "postgresql":
        counts = next(s for s in seen if "count(" in s[0])
        plan = await session.run_sync(_plan, *counts, "")
        assert "ix_tickets_next_due" in plan and "ix_tickets_open_queue" in plan


async def test_counts_are_reused_until_a_ticket_changes_and_a_change_shows_at_once(session, shop):
    from sqlalchemy import event

    from helpdesk.models import Agent

    agent_id = shop.agents["agent"]
    before = {c.name: c.count for c in await queues.queue_counts(session, agent_id=agent_id)}
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    engine = session.bind.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        again = {c.name: c.count for c in await queues.queue_counts(session, agent_id=agent_id)}
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert again == before and not any("count(" in s for s in seen)  # only the version was read

    agent = await session.get(Agent, agent_id)
    await bulk_update(session, [shop.ticket_ids[0]], Changes(status="solved"), agent=agent)
    after = {c.name: c.count for c in await queues.queue_counts(session, agent_id=agent_id)}
    assert after["solved"] == before["solved"] + 1 and after["open"] == before["open"] - 1
