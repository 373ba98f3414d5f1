"""The SLA clock rules through ingest, the outbox and the ticket actions, on SQLite and PostgreSQL:
first response met and breached, a failed delivery restarting it, pending pausing in business time,
reopening, and due times recomputed on a change of priority or of a policy."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select, update

import helpdesk.channel
from channels.stub import StubSender
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Agent, AuditEvent, BusinessCalendar, Message, SlaEvent, SlaPolicy, Team, Ticket, TicketTag
from helpdesk.sla import policies
from helpdesk.sla.clock import DAYS
from helpdesk.tickets import history, outbox
from helpdesk.tickets.actions import Changes, sla_clocks, update_ticket
from tests.factories import inbound
from tests.support.console import app, client, shop, sign_in  # noqa: F401 - fixtures

UTC = timezone.utc
MIN = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def fresh_policies():
    policies.forget_cached_policies()
    outbox.set_enqueuer(None)
    senders = dict(helpdesk.channel._senders)
    yield
    policies.forget_cached_policies()
    helpdesk.channel._senders.clear()
    helpdesk.channel._senders.update(senders)


async def a_policy(session, **fields) -> SlaPolicy:
    policy = SlaPolicy(**{"name": "standard", "position": 1, "first_response_minutes": 60,
                          "next_response_minutes": 120, "resolution_minutes": 24 * 60, **fields})
    session.add(policy)
    await session.commit()
    policies.forget_cached_policies()
    return policy


async def an_agent(session) -> Agent:
    team = Team(name="Support")
    session.add(team)
    await session.flush()
    agent = Agent(email="carla@shop.test", name="Carla", password_hash="x", team_id=team.id)
    session.add(agent)
    await session.commit()
    return agent


async def opened(session, settings, minutes_ago: float, **message) -> Ticket:
    result = await ingest(session, inbound(received_at=datetime.now(UTC) - minutes_ago * MIN, **message),
                          settings=settings)
    ticket = await session.get(Ticket, result.ticket_id)
    await session.refresh(ticket)
    return ticket


async def delivered(sessions, settings, message_id: int) -> str:
    """The outbox's delivery, as a worker runs it (its own session)."""
    async with sessions() as worker:
        return await outbox.deliver(worker, message_id, settings=settings)


async def stamps(session, ticket_id: int) -> list[tuple[str, str, int]]:
    rows = await session.execute(select(SlaEvent.target, SlaEvent.kind, SlaEvent.cycle)
                                 .where(SlaEvent.ticket_id == ticket_id).order_by(SlaEvent.id))
    return [tuple(row) for row in rows]


async def test_first_response_is_met_by_an_agents_reply_and_a_note_or_auto_reply_meets_nothing(session, settings):
    await a_policy(session)
    ticket = await opened(session, settings, 30, external_id="<a1@example.com>")
    assert ticket.first_response_due_at == pytest.approx(ticket.created_at + 60 * MIN, abs=timedelta(seconds=1))
    await outbox.queue_reply(session, ticket, settings=settings, text="We got it.", automatic=True)
    assert ticket.first_responded_at is None and ticket.first_response_due_at is not None
    reply = await outbox.queue_reply(session, ticket, settings=settings, text="Here is your answer.")
    assert ticket.first_responded_at == reply.created_at and ticket.first_response_due_at is None
    assert await stamps(session, ticket.id) == [("first_response", "started", 0), ("resolution", "started", 0),
                                                ("first_response", "met", 0)]
    met = await session.scalar(select(SlaEvent).where(SlaEvent.kind == "met"))
    assert 29 <= met.business_minutes <= 31


async def test_a_customer_message_after_our_answer_starts_next_response_in_a_new_cycle(session, settings):
    await a_policy(session)
    ticket = await opened(session, settings, 30, external_id="<b1@example.com>")
    await outbox.queue_reply(session, ticket, settings=settings, text="Answer one.")
    for n in (1, 2):
        await ingest(session, inbound(in_reply_to="<b1@example.com>", external_id=f"<b-next-{n}@example.com>"),
                     settings=settings)
        await session.refresh(ticket)
        assert ticket.next_response_due_at is not None
        await outbox.queue_reply(session, ticket, settings=settings, text=f"Answer {n + 1}.")
        assert ticket.next_response_due_at is None
    kinds = [(k, c) for t, k, c in await stamps(session, ticket.id) if t == "next_response"]
    assert kinds == [("started", 0), ("met", 0), ("started", 1), ("met", 1)]


async def test_a_reply_that_fails_to_deliver_restarts_the_clocks_it_stopped(session, sessions, settings):
    helpdesk.channel.register_sender(StubSender("email", fail_times=5, retryable=False))
    await a_policy(session)
    ticket = await opened(session, settings, 90, external_id="<c1@example.com>")
    due = ticket.first_response_due_at
    reply = await outbox.queue_reply(session, ticket, settings=settings, text="Sent into the void.")
    assert ticket.first_response_due_at is None
    assert await delivered(sessions, settings, reply.id) == "failed"
    async with sessions() as fresh:
        again = await fresh.get(Ticket, ticket.id)
        assert again.first_responded_at is None
        assert again.first_response_due_at == due  # from where it was: 30 minutes overdue by now
        assert (await stamps(fresh, ticket.id))[-1] == ("first_response", "restarted", 1)
        clocks = {c.name: c for c in await sla_clocks(fresh, again)}
        assert clocks["first_response"].state == "breached" and clocks["first_response"].text.startswith("overdue by")
        lines = [str(e.text) for e in history.sla_entries(await history.sla_events(fresh, ticket.id))]
        assert any("restarted: the reply that stopped it was not delivered" in line for line in lines)


async def test_a_failed_email_reply_does_not_stop_the_next_response_clock(session, sessions, settings):
    await a_policy(session)
    ticket = await opened(session, settings, 90, external_id="<d1@example.com>")
    helpdesk.channel.register_sender(StubSender("email"))
    first = await outbox.queue_reply(session, ticket, settings=settings, text="First answer, delivered.")
    assert await delivered(sessions, settings, first.id) == "sent"
    await ingest(session, inbound(in_reply_to="<d1@example.com>", external_id="<d2@example.com>"), settings=settings)
    await session.refresh(ticket)
    due = ticket.next_response_due_at
    helpdesk.channel.register_sender(StubSender("email", fail_times=1, retryable=False))
    second = await outbox.queue_reply(session, ticket, settings=settings, text="Second answer, bounced.")
    assert ticket.next_response_due_at is None
    assert await delivered(sessions, settings, second.id) == "failed"
    async with sessions() as fresh:
        again = await fresh.get(Ticket, ticket.id)
        assert again.next_response_due_at == due and again.first_responded_at is not None
        assert (await stamps(fresh, ticket.id))[-1] == ("next_response", "restarted", 1)


async def test_pending_pauses_in_business_time_and_the_customers_answer_resumes(session, settings):
    calendar = BusinessCalendar(name="office", timezone="UTC", weekly_hours={d: [["00:00", "24:00"]] for d in DAYS},
                                holidays=[])
    session.add(calendar)
    await session.flush()
    await a_policy(session, calendar_id=calendar.id, resolution_minutes=8 * 60)
    agent = await an_agent(session)
    ticket = await opened(session, settings, 120, external_id="<e1@example.com>")
    resolution_due = ticket.resolution_due_at
    await update_ticket(session, ticket, Changes(status="pending"), agent=agent)
    paused_at = ticket.sla_paused_at
    clocks = {c.name: c for c in await sla_clocks(session, ticket, now=paused_at + 600 * MIN)}
    assert clocks["resolution"].state == "paused" and clocks["resolution"].text == "paused, 6h 00m left"
    await ingest(session, inbound(in_reply_to="<e1@example.com>", external_id="<e2@example.com>",
                                  received_at=paused_at + 3 * MIN), settings=settings)
    await session.refresh(ticket)
    assert ticket.status == "open" and ticket.sla_paused_at is None
    assert ticket.resolution_due_at - resolution_due == 3 * MIN  # moved on by the pause
    assert [k for t, k, c in await stamps(session, ticket.id) if t == "resolution"] == [
        "started", "paused", "resumed"]


async def test_a_ticket_paused_when_overdue_shows_paused_overdue_by_not_negative_time_left(session, settings):
    await a_policy(session, resolution_minutes=60)
    agent = await an_agent(session)
    ticket = await opened(session, settings, 26 * 60 + 60, external_id="<f1@example.com>")  # 26 h overdue
    await update_ticket(session, ticket, Changes(status="pending"), agent=agent)
    clocks = {c.name: c for c in await sla_clocks(session, ticket)}
    assert clocks["resolution"].text == "paused, overdue by 1d 2h"
    assert clocks["resolution"].paused_remaining_seconds >= 0


async def test_solving_stops_the_clocks_and_reopening_resumes_with_the_time_already_used(session, settings):
    await a_policy(session, resolution_minutes=600)
    agent = await an_agent(session)
    ticket = await opened(session, settings, 120, external_id="<g1@example.com>")
    await outbox.queue_reply(session, ticket, settings=settings, text="Fixed.", status_after="solved")
    due = ticket.resolution_due_at
    solved_at = ticket.sla_paused_at
    assert solved_at is not None
    await ingest(session, inbound(in_reply_to="<g1@example.com>", external_id="<g2@example.com>",
                                  text="Still broken."), settings=settings)
    await session.refresh(ticket)
    assert ticket.status == "open" and ticket.sla_paused_at is None
    left_before = due - solved_at
    left_now = ticket.resolution_due_at - datetime.now(UTC)
    assert abs(left_now - left_before) < 2 * MIN  # the time used before solving still counts, no more
    assert ("resolution", "met", 0) in await stamps(session, ticket.id)
    # an agent reopening by hand resumes the same way
    await update_ticket(session, ticket, Changes(status="solved"), agent=agent)
    await update_ticket(session, ticket, Changes(status="open"), agent=agent)
    assert ticket.sla_paused_at is None


async def test_priority_change_and_tags_pick_another_policy_and_recompute_from_the_history(session, settings):
    await a_policy(session, name="urgent vip", position=1, match_tags=["vip"],
                   targets={"urgent": {"first_response": 15}}, first_response_minutes=30)
    await a_policy(session, name="standard", position=2, first_response_minutes=240)
    agent = await an_agent(session)
    ticket = await opened(session, settings, 10, external_id="<h1@example.com>")
    created = ticket.created_at
    assert ticket.first_response_due_at == pytest.approx(created + 240 * MIN, abs=timedelta(seconds=1))
    await update_ticket(session, ticket, Changes(add_tags=("vip",)), agent=agent)
    assert ticket.first_response_due_at == pytest.approx(created + 30 * MIN, abs=timedelta(seconds=1))
    await update_ticket(session, ticket, Changes(priority="urgent"), agent=agent)
    assert ticket.first_response_due_at == pytest.approx(created + 15 * MIN, abs=timedelta(seconds=1))
    assert (await session.get(SlaPolicy, ticket.sla_policy_id)).name == "urgent vip"
    await update_ticket(session, ticket, Changes(remove_tags=("vip",)), agent=agent)
    assert ticket.first_response_due_at == pytest.approx(created + 240 * MIN, abs=timedelta(seconds=1))


async def test_editing_a_policy_recomputes_the_open_tickets_it_covers(session, sessions, settings):
    policy = await a_policy(session, first_response_minutes=60, resolution_minutes=600)
    agent = await an_agent(session)
    answered = await opened(session, settings, 30, external_id="<i1@example.com>")
    await outbox.queue_reply(session, answered, settings=settings, text="Answered.")
    waiting = await opened(session, settings, 20, sender="bob@example.com", external_id="<i2@example.com>")
    await update_ticket(session, waiting, Changes(status="pending"), agent=agent)
    policy.first_response_minutes, policy.resolution_minutes = 120, 1200
    await session.commit()
    assert await policies.recompute_open_tickets(session, policy_ids=[policy.id]) == 2
    async with sessions() as fresh:
        a, w = await fresh.get(Ticket, answered.id), await fresh.get(Ticket, waiting.id)
        assert a.first_response_due_at is None and a.first_responded_at is not None  # met stays met
        assert a.resolution_due_at == pytest.approx(a.created_at + 1200 * MIN, abs=timedelta(seconds=1))
        assert w.first_response_due_at == pytest.approx(w.created_at + 120 * MIN, abs=timedelta(seconds=1))
        assert w.sla_paused_at is not None and w.status == "pending"


async def test_a_bounce_of_a_delivered_reply_restarts_the_clock_it_stopped(session, sessions, settings):
    helpdesk.channel.register_sender(StubSender("email"))
    await a_policy(session)
    ticket = await opened(session, settings, 90, external_id="<j1@example.com>")
    due = ticket.first_response_due_at
    reply = await outbox.queue_reply(session, ticket, settings=settings, text="Off it goes.")
    assert await delivered(sessions, settings, reply.id) == "sent"
    result = await ingest(session, inbound(sender="mailer-daemon@mx.example.com", auto_generated=True,
                                           subject="Undelivered Mail Returned to Sender", bounce_of=reply.external_id),
                          settings=settings)
    assert result.bounce
    async with sessions() as fresh:
        again = await fresh.get(Ticket, ticket.id)
        assert again.first_responded_at is None and again.first_response_due_at == due
        assert (await stamps(fresh, ticket.id))[-1] == ("first_response", "restarted", 1)


async def test_a_failed_reply_retried_and_delivered_meets_the_restarted_clock(session, sessions, settings):
    helpdesk.channel.register_sender(StubSender("email", fail_times=1, retryable=False))
    await a_policy(session)
    ticket = await opened(session, settings, 30, external_id="<k1@example.com>")
    reply = await outbox.queue_reply(session, ticket, settings=settings, text="Second time lucky.")
    assert await delivered(sessions, settings, reply.id) == "failed"
    async with sessions() as agent:
        assert await outbox.retry(agent, reply.id)
    assert await delivered(sessions, settings, reply.id) == "sent"
    async with sessions() as fresh:
        again = await fresh.get(Ticket, ticket.id)
        assert again.first_responded_at is not None and again.first_response_due_at is None
        assert (await stamps(fresh, ticket.id))[-2:] == [("first_response", "restarted", 1),
                                                         ("first_response", "met", 1)]


async def test_recompute_keeps_the_clocks_of_a_ticket_without_customer_messages(session, settings):
    await a_policy(session, first_response_minutes=60)
    agent = await an_agent(session)
    ticket = await opened(session, settings, 10, external_id="<l1@example.com>")
    await session.execute(delete(Message).where(Message.ticket_id == ticket.id))  # as an API-made ticket has none
    await session.commit()
    await update_ticket(session, ticket, Changes(priority="high"), agent=agent)
    assert ticket.first_response_due_at == pytest.approx(ticket.created_at + 60 * MIN, abs=timedelta(seconds=1))
    assert ticket.sla_policy_id is not None


async def test_the_ticket_page_shows_its_sla_events_in_the_history(client, shop, session, settings):
    await a_policy(session, name="shop standard")
    ticket = await opened(session, settings, 90, sender="zoe@example.com", external_id="<m1@example.com>")
    agent = await session.get(Agent, shop.agents["agent"])
    await update_ticket(session, ticket, Changes(status="pending"), agent=agent)
    await sign_in(client, "agent")
    page = await client.get(f"/console/tickets/{ticket.id}")
    lines = [" ".join(re.sub(r"<[^>]+>", "", line).split()) for line in
             re.findall(r'<li id="event-sla-\d+" class="history-event" data-action="sla\.\w+">(.*?)</li>', page.text, re.S)]
    assert [line.split(" ·")[0] for line in lines] == [
        f"SLA First response started, due {(ticket.created_at + 60 * MIN):%d %b %H:%M}",
        f"SLA Resolution started, due {(ticket.created_at + 24 * 60 * MIN):%d %b %H:%M}",
        "SLA Resolution paused"]
    assert 'data-clock="resolution" data-state="paused"' in page.text and "paused, 22h 30m left" in page.text


async def test_reopening_and_raising_the_priority_at_once_resumes_then_recomputes(session, settings):
    await a_policy(session, resolution_minutes=600, targets={"urgent": {"resolution": 300}})
    agent = await an_agent(session)
    ticket = await opened(session, settings, 60, external_id="<n1@example.com>")
    await update_ticket(session, ticket, Changes(status="pending"), agent=agent)
    await session.execute(update(AuditEvent).where(AuditEvent.object_id == ticket.id)
                          .values(at=datetime.now(UTC) - 40 * MIN))  # pending for the last 40 minutes
    ticket.sla_paused_at = datetime.now(UTC) - 40 * MIN
    await session.commit()
    await update_ticket(session, ticket, Changes(status="open", priority="urgent"), agent=agent)
    assert ticket.sla_paused_at is None
    # 300 minutes from its opening, moved on by the 40 minutes it was pending
    assert ticket.resolution_due_at == pytest.approx(ticket.created_at + 340 * MIN, abs=timedelta(seconds=2))


async def test_resolution_met_counts_the_time_it_ran_not_the_time_it_was_paused(session, settings):
    await a_policy(session, resolution_minutes=600)
    agent = await an_agent(session)
    ticket = await opened(session, settings, 120, external_id="<o1@example.com>")
    await update_ticket(session, ticket, Changes(status="pending"), agent=agent)
    ticket.sla_paused_at = datetime.now(UTC) - 60 * MIN  # pending for the last hour of its two
    await session.commit()
    await update_ticket(session, ticket, Changes(status="solved"), agent=agent)
    met = await session.scalar(select(SlaEvent).where(SlaEvent.kind == "met", SlaEvent.target == "resolution"))
    assert 59 <= met.business_minutes <= 61
