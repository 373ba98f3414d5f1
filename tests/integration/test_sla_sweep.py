"""The SLA sweep on SQLite and PostgreSQL: breaches stamped once per target and cycle, the team's lead
escalated to in the console and by email, the assignee warned at the policy's share, live events,
and two sweeps racing on PostgreSQL acting once."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import dramatiq
import pytest
from sqlalchemy import func, select

import helpdesk.channel
from channels.stub import StubSender
from helpdesk import live
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Agent, Notification, SlaEvent, SlaPolicy, Team, Ticket
from helpdesk.sla import policies, sweep
from helpdesk.tickets import outbox
from tests.factories import inbound
from tests.integration.test_outbox import clean_outbox_wiring, email_sender  # noqa: F401 - fixtures

UTC = timezone.utc
MIN = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def fresh_state():
    policies.forget_cached_policies()
    sweep.forget_last_sweep()
    yield
    policies.forget_cached_policies()
    sweep.forget_last_sweep()


@pytest.fixture
def mail(email_sender) -> StubSender:
    """The mail the sweep's escalations send (a stub email sender)."""
    return email_sender


@pytest.fixture
def published():
    events: list[tuple[str, dict]] = []
    publisher = lambda channel, event: events.append((channel, event))  # noqa: E731
    live.add_publisher(publisher)
    yield events
    live.remove_publisher(publisher)


@pytest.fixture
async def team(session):
    """Support, led by Lena, with Carla answering."""
    team = Team(name="Support")
    session.add(team)
    await session.flush()
    lead = Agent(email="lena@shop.test", name="Lena", password_hash="x", role="lead", team_id=team.id)
    carla = Agent(email="carla@shop.test", name="Carla", password_hash="x", team_id=team.id)
    session.add_all([lead, carla])
    await session.flush()
    team.lead_id = lead.id
    session.add(SlaPolicy(name="standard", position=1, first_response_minutes=60, next_response_minutes=120,
                          resolution_minutes=24 * 60, warn_at_percent=80))
    await session.commit()
    policies.forget_cached_policies()
    return team, lead, carla


async def a_ticket(session, settings, team, minutes_ago: float, assignee: Agent | None = None, **message) -> Ticket:
    result = await ingest(session, inbound(received_at=datetime.now(UTC) - minutes_ago * MIN, **message),
                          settings=settings)
    ticket = await session.get(Ticket, result.ticket_id)
    ticket.team_id = team.id
    ticket.assignee_id = assignee.id if assignee else None
    await session.commit()
    return ticket


async def swept(session, settings, **options) -> sweep.SweepResult:
    """A sweep and its mails, as the `sweep_sla` actor runs them."""
    result = await sweep.sweep(session, **options)
    await outbox.mail_people(session, result.letters, settings=settings)
    return result


async def count(session, model, *where) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_a_breach_is_stamped_once_and_escalated_to_the_team_lead(session, settings, team, mail, published):
    support, lead, carla = team
    late = await a_ticket(session, settings, support, 90, carla, subject="Broken teapot")
    fine = await a_ticket(session, settings, support, 5, carla, sender="bob@example.com")
    result = await swept(session, settings)
    assert [(e.ticket_id, e.target, e.cycle) for e in result.breached] == [(late.id, "first_response", 0)]
    await session.refresh(late)
    assert late.sla_breached_at is not None
    assert (await session.get(Ticket, fine.id)).sla_breached_at is None
    notes = list(await session.scalars(select(Notification).where(Notification.kind == "sla.breached")))
    assert [(n.agent_id, n.ticket_id) for n in notes] == [(lead.id, late.id)]
    assert "Broken teapot" in notes[0].text
    assert [(o.recipient.value, o.subject) for o in mail.sent] == [
        ("lena@shop.test", f"SLA breached: First response of #{late.number} 'Broken teapot'")]
    assert (live.sla_channel(), {"event": "sla.changed", "breached": [late.id], "warned": []}) in published
    assert (live.agent_channel(lead.id), {"event": "notification.created"}) in published
    # again, full or not: nothing new
    for full in (True, False):
        again = await swept(session, settings, full=full)
        assert again.breached == [] and again.notified == 0
    assert len(mail.sent) == 1
    assert await count(session, SlaEvent, SlaEvent.kind == "breached") == 1


async def test_the_assignee_is_warned_at_the_policys_share_of_a_target(session, settings, team, mail):
    support, lead, carla = team
    near = await a_ticket(session, settings, support, 50, carla)  # 83 % of the hour used
    early = await a_ticket(session, settings, support, 30, carla, sender="bob@example.com")  # 50 %
    unassigned = await a_ticket(session, settings, support, 50, None, sender="cy@example.com")
    result = await swept(session, settings)
    assert [(e.ticket_id, e.target) for e in result.warned] == [(near.id, "first_response")]
    assert result.breached == []
    notes = list(await session.scalars(select(Notification).where(Notification.kind == "sla.warning")))
    assert [(n.agent_id, n.ticket_id) for n in notes] == [(carla.id, near.id)]
    assert mail.sent[0].recipient.value == "carla@shop.test" and mail.sent[0].subject.startswith("SLA warning")
    # the next sweeps (incremental) warn the others when their time comes, and each once
    later = datetime.now(UTC) + 20 * MIN
    result = await swept(session, settings, now=later)
    assert {e.ticket_id for e in result.warned} == {early.id}
    assert await count(session, SlaEvent, SlaEvent.kind == "warned", SlaEvent.ticket_id == unassigned.id) == 0


async def test_an_incremental_sweep_finds_clocks_that_fell_due_or_restarted_since(session, sessions, settings, team,
                                                                                 mail):
    support, lead, carla = team
    first = await swept(session, settings)
    assert first.full
    due_soon = await a_ticket(session, settings, support, 59, carla)
    result = await swept(session, settings, now=datetime.now(UTC) + 2 * MIN)
    assert not result.full and [e.ticket_id for e in result.breached] == [due_soon.id]
    # a reply stops the clock; it fails to deliver: the clock restarts, overdue, and the next sweep stamps cycle 1
    answered = await a_ticket(session, settings, support, 30, carla, sender="bob@example.com")
    helpdesk.channel.register_sender(StubSender("email", fail_times=1, retryable=False))
    reply = await outbox.queue_reply(session, answered, settings=settings, text="Lost in the post.")
    async with sessions() as worker:
        assert await outbox.deliver(worker, reply.id, settings=settings) == "failed"
    result = await swept(session, settings, now=datetime.now(UTC) + 35 * MIN)
    assert [(e.ticket_id, e.cycle) for e in result.breached] == [(answered.id, 1)]


async def test_two_sweeps_racing_on_postgresql_escalate_each_breach_once(settings, sessions, team, mail):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the race is about PostgreSQL's concurrent transactions")
    support, lead, carla = team
    async with sessions() as session:
        for n in range(20):
            await a_ticket(session, settings, support, 90, carla, sender=f"c{n}@example.com")
    for round_ in range(3):
        sweep.forget_last_sweep()
        async with sessions() as one, sessions() as two:
            results = await asyncio.gather(swept(one, settings, full=True),
                                           swept(two, settings, full=True))
        if round_ == 0:
            assert sum(len(r.breached) for r in results) == 20
    async with sessions() as session:
        assert await count(session, SlaEvent, SlaEvent.kind == "breached") == 20
        assert await count(session, Notification, Notification.kind == "sla.breached") == 20
    assert len(mail.sent) == 20


async def test_the_scheduled_actor_sweeps_through_a_real_worker(settings, session, sessions, team, mail):
    import workers.actors as actors
    from workers.broker import setup_broker, start_worker
    from workers.schedule import JOBS

    assert ("sweep_sla", 30) in JOBS
    support, lead, carla = team
    late = await a_ticket(session, settings, support, 90, carla)
    previous = dramatiq.get_broker()
    broker = setup_broker(settings.with_(broker_url=None))
    helpdesk.channel.register_sender(mail)  # after setup_broker, which installs the real senders
    worker = start_worker(broker, threads=1)
    try:
        actors.sweep_sla.send()
        deadline = time.monotonic() + 15
        while True:
            async with sessions() as fresh:
                if await count(fresh, SlaEvent, SlaEvent.kind == "breached", SlaEvent.ticket_id == late.id):
                    break
            assert time.monotonic() < deadline, "the actor did not stamp the breach"
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        broker.close()
        dramatiq.set_broker(previous)
    assert [o.recipient.value for o in mail.sent] == ["lena@shop.test"]


async def test_a_catch_up_sweep_tells_the_consoles_in_one_small_event(session, settings, team, mail, published,
                                                                    monkeypatch):
    monkeypatch.setattr(sweep, "LIVE_TICKETS", 2)
    support, lead, carla = team
    for n in range(3):
        await a_ticket(session, settings, support, 90, carla, sender=f"late{n}@example.com")
    published.clear()  # what ingest said
    result = await swept(session, settings)
    assert len(result.breached) == 3
    assert published == [(live.queue_channel("all"), {"event": "ticket.updated", "ticket_ids": []}),
                         (live.sla_channel(), {"event": "sla.changed", "breached": 3, "warned": 0}),
                         (live.agent_channel(lead.id), {"event": "notification.created"})]


async def test_a_breach_found_long_after_it_fell_due_is_stamped_without_waking_anyone(session, settings, team, mail):
    support, lead, carla = team
    old = await a_ticket(session, settings, support, 3 * 60, carla)  # due two hours ago, never swept
    result = await swept(session, settings)
    assert [e.ticket_id for e in result.breached] == [old.id]
    assert result.notified == 0 and mail.sent == []
    await session.refresh(old)
    assert old.sla_breached_at is not None


async def test_a_warning_counts_business_time_left_across_closed_hours(session, settings, team, mail):
    """Weekdays 9-17 in UTC, resolution 8 business hours, warned at 75 %: with 2 business hours left
    (Friday 16:00 -> Monday 10:00: 17 hours on the clock), not with more."""
    from helpdesk.models import BusinessCalendar
    support, lead, carla = team
    calendar = BusinessCalendar(name="office", timezone="UTC", weekly_hours={d: [["09:00", "17:00"]] for d in
                                                                             ("mon", "tue", "wed", "thu", "fri")},
                                holidays=[])
    session.add(calendar)
    await session.flush()
    policy = await session.scalar(select(SlaPolicy))
    policy.calendar_id, policy.warn_at_percent, policy.first_response_minutes = calendar.id, 75, None
    policy.resolution_minutes = 8 * 60
    await session.commit()
    policies.forget_cached_policies()
    ticket = await a_ticket(session, settings, support, 1, carla)
    friday_4pm = datetime(2026, 12, 4, 16, tzinfo=UTC)
    ticket.resolution_due_at = datetime(2026, 12, 7, 10, tzinfo=UTC)  # Monday 10:00
    await session.commit()
    assert (await swept(session, settings, now=friday_4pm - 2 * MIN, full=True)).warned == []  # 2h 02m left
    result = await swept(session, settings, now=friday_4pm, full=False)
    assert [(e.ticket_id, e.target) for e in result.warned] == [(ticket.id, "resolution")]
