"""The transactional outbox: queued replies are delivered exactly once — on SQLite and PostgreSQL,
driven directly and through a real Dramatiq worker (in-process and over Redis)."""
from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import dramatiq
import pytest
from sqlalchemy import select, update

import helpdesk.channel
from channels.stub import StubSender
from helpdesk.tickets import outbox
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Message, Ticket, utcnow
from tests.factories import inbound


@pytest.fixture(autouse=True)
def clean_outbox_wiring():
    """Each test starts without an enqueuer and leaves the sender registry as it found it."""
    senders = dict(helpdesk.channel._senders)
    outbox.set_enqueuer(None)
    yield
    outbox.set_enqueuer(None)
    helpdesk.channel._senders.clear()
    helpdesk.channel._senders.update(senders)


@pytest.fixture
def email_sender() -> StubSender:
    sender = StubSender("email")
    helpdesk.channel.register_sender(sender)
    return sender


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple[int, float]]:
    """A broker stand-in: records what the outbox asked to be delivered, and when."""
    calls: list[tuple[int, float]] = []
    outbox.set_enqueuer(lambda message_id, delay: calls.append((message_id, delay)))
    return calls


async def a_ticket(session, settings) -> Ticket:
    result = await ingest(session, inbound(sender="ann@example.com", external_id="<q1@example.com>"), settings=settings)
    return await session.get(Ticket, result.ticket_id)


async def a_queued_reply(session, settings, text: str = "Your parcel is on its way.") -> int:
    ticket = await a_ticket(session, settings)
    message = await outbox.queue_reply(session, ticket, settings=settings, text=text)
    return message.id


async def row(sessions, message_id: int) -> Message:
    async with sessions() as fresh:
        return await fresh.get(Message, message_id)


async def make_due(session, message_id: int) -> None:
    """Stand in for the passing of the back-off delay."""
    await session.execute(
        update(Message).where(Message.id == message_id).values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    await session.commit()


async def test_reply_is_committed_queued_then_enqueued(session, sessions, settings, email_sender, enqueued):
    message_id = await a_queued_reply(session, settings)
    assert (await row(sessions, message_id)).delivery_status == "queued"
    assert enqueued == [(message_id, 0)]
    assert email_sender.calls == 0


async def test_sender_failing_twice_then_succeeding_sends_exactly_once(session, sessions, settings, enqueued):
    sender = StubSender("email", fail_times=2, retryable=True)
    helpdesk.channel.register_sender(sender)
    message_id = await a_queued_reply(session, settings)

    assert await outbox.deliver(session, message_id, settings=settings) == "queued"
    first = await row(sessions, message_id)
    assert first.delivery_attempts == 1 and first.delivery_error == "stub failure on demand"
    assert first.next_attempt_at > utcnow()
    assert await outbox.deliver(session, message_id, settings=settings) == "queued"  # not due yet: no send
    assert sender.calls == 1

    await make_due(session, message_id)
    assert await outbox.deliver(session, message_id, settings=settings) == "queued"
    second = await row(sessions, message_id)
    assert second.delivery_attempts == 2
    assert second.next_attempt_at - second.updated_at > first.next_attempt_at - first.updated_at  # backs off

    await make_due(session, message_id)
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"  # a late duplicate is a no-op

    done = await row(sessions, message_id)
    assert done.delivery_status == "sent" and done.delivery_error is None and done.sent_at is not None
    assert done.delivery_attempts == 3
    assert sender.calls == 3 and len(sender.sent) == 1
    assert sender.sent[0].text == "Your parcel is on its way."
    assert sender.sent[0].recipient.value == "ann@example.com"
    assert sender.sent[0].in_reply_to == "<q1@example.com>"
    assert [m for m, _ in enqueued] == [message_id] * 3  # queue_reply, then once per retryable failure
    assert [delay for _, delay in enqueued][1:] == [outbox.backoff_seconds(1), outbox.backoff_seconds(2)]


async def test_retryable_failures_give_up_after_max_attempts(session, sessions, settings, enqueued):
    sender = StubSender("email", fail_times=100, retryable=True)
    helpdesk.channel.register_sender(sender)
    settings = settings.with_(outbox_max_attempts=3)
    message_id = await a_queued_reply(session, settings)
    statuses = []
    for _ in range(3):
        statuses.append(await outbox.deliver(session, message_id, settings=settings))
        await make_due(session, message_id)
    assert statuses == ["queued", "queued", "failed"]
    assert (await row(sessions, message_id)).delivery_status == "failed"


async def test_non_retryable_failure_ends_failed_with_the_error(session, sessions, settings, enqueued):
    sender = StubSender("email", fail_times=1, retryable=False)
    helpdesk.channel.register_sender(sender)
    message_id = await a_queued_reply(session, settings)

    assert await outbox.deliver(session, message_id, settings=settings) == "failed"
    failed = await row(sessions, message_id)
    assert failed.delivery_status == "failed" and failed.delivery_error == "stub failure on demand"
    assert await outbox.deliver(session, message_id, settings=settings) == "failed"
    assert sender.calls == 1 and sender.sent == []
    assert len(enqueued) == 1  # no retry was scheduled


async def test_delivery_failures_are_logged_with_the_ticket_and_the_reason(session, sessions, settings, enqueued,
                                                                            caplog):
    helpdesk.channel.register_sender(StubSender("email", fail_times=2, retryable=True))
    settings = settings.with_(outbox_max_attempts=2)
    message_id = await a_queued_reply(session, settings)
    ticket_number = (await row(sessions, message_id)).ticket_id  # number = id for tickets made here
    with caplog.at_level("WARNING", logger="helpdesk.tickets.outbox"):
        await outbox.deliver(session, message_id, settings=settings)
        await make_due(session, message_id)
        await outbox.deliver(session, message_id, settings=settings)
    retried, failed = [r.getMessage() for r in caplog.records]
    assert retried == (f"ticket {ticket_number}: email message {message_id} not delivered "
                       f"(attempt 1, next in 10 s): stub failure on demand")
    assert failed == f"ticket {ticket_number}: email message {message_id} failed, not retried: stub failure on demand"


async def test_channel_without_a_sender_fails_with_a_clear_error(session, sessions, settings, enqueued):
    helpdesk.channel._senders.pop("email", None)
    message_id = await a_queued_reply(session, settings)
    assert await outbox.deliver(session, message_id, settings=settings) == "failed"
    assert "no sender registered for channel 'email'" in (await row(sessions, message_id)).delivery_error


async def test_crash_between_commit_and_enqueue_is_recovered_by_the_sweep(session, sessions, settings, email_sender):
    def broker_down(message_id: int, delay: float) -> None:
        raise ConnectionError("broker unreachable")

    outbox.set_enqueuer(broker_down)
    message_id = await a_queued_reply(session, settings)  # committed; the enqueue failed
    assert (await row(sessions, message_id)).delivery_status == "queued"

    swept: list[int] = []
    outbox.set_enqueuer(lambda mid, delay: swept.append(mid))
    assert await outbox.sweep(session, settings=settings) == {"requeued": 0, "interrupted": 0}  # not stale yet
    await session.execute(
        update(Message).where(Message.id == message_id).values(updated_at=utcnow() - timedelta(minutes=2))
    )
    await session.commit()
    assert await outbox.sweep(session, settings=settings) == {"requeued": 1, "interrupted": 0}
    assert swept == [message_id]
    assert await outbox.sweep(session, settings=settings) == {"requeued": 0, "interrupted": 0}  # touched, not twice

    for message_id in swept:
        assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    assert len(email_sender.sent) == 1


async def test_reply_with_no_enqueuer_at_all_waits_for_the_sweep(session, sessions, settings, email_sender):
    message_id = await a_queued_reply(session, settings)  # no broker wired: nothing enqueued
    await session.execute(
        update(Message).where(Message.id == message_id).values(updated_at=utcnow() - timedelta(minutes=2))
    )
    await session.commit()
    swept: list[int] = []
    outbox.set_enqueuer(lambda mid, delay: swept.append(mid))
    await outbox.sweep(session, settings=settings)
    assert swept == [message_id]
    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    assert len(email_sender.sent) == 1


async def test_sweep_leaves_rows_waiting_for_their_back_off(session, sessions, settings, enqueued):
    helpdesk.channel.register_sender(StubSender("email", fail_times=1))
    message_id = await a_queued_reply(session, settings)
    assert await outbox.deliver(session, message_id, settings=settings) == "queued"
    await session.execute(
        update(Message).where(Message.id == message_id).values(updated_at=utcnow() - timedelta(minutes=2))
    )
    await session.commit()
    assert (await outbox.sweep(session, settings=settings))["requeued"] == 0  # next_attempt_at is in the future


async def test_concurrent_deliveries_of_one_message_send_once(sessions, settings, email_sender, enqueued):
    async with sessions() as session:
        message_id = await a_queued_reply(session, settings)

    async def deliver_once() -> str:
        async with sessions() as own:
            return await outbox.deliver(own, message_id, settings=settings)

    statuses = await asyncio.gather(deliver_once(), deliver_once())
    assert "sent" in statuses
    assert sorted(statuses) in (["sending", "sent"], ["sent", "sent"])
    assert len(email_sender.sent) == 1
    assert (await row(sessions, message_id)).delivery_attempts == 1


async def test_row_stuck_sending_is_failed_by_the_sweep_not_resent(session, sessions, settings, email_sender, enqueued):
    message_id = await a_queued_reply(session, settings)
    # a worker claimed it and died mid-send: we cannot know whether it went out
    await session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(delivery_status="sending", delivery_attempts=1, updated_at=utcnow() - timedelta(minutes=11))
    )
    await session.commit()
    enqueued.clear()

    assert await outbox.sweep(session, settings=settings) == {"requeued": 0, "interrupted": 1}
    stuck = await row(sessions, message_id)
    assert stuck.delivery_status == "failed" and "interrupted while sending" in stuck.delivery_error
    assert enqueued == []
    assert await outbox.deliver(session, message_id, settings=settings) == "failed"
    assert email_sender.calls == 0


async def test_a_recent_sending_row_is_left_alone_by_the_sweep(session, sessions, settings, email_sender, enqueued):
    message_id = await a_queued_reply(session, settings)
    await session.execute(update(Message).where(Message.id == message_id).values(delivery_status="sending"))
    await session.commit()
    assert await outbox.sweep(session, settings=settings) == {"requeued": 0, "interrupted": 0}
    assert (await row(sessions, message_id)).delivery_status == "sending"


async def test_retry_after_failure_requeues_and_delivers(session, sessions, settings, enqueued):
    sender = StubSender("email", fail_times=1, retryable=False)
    helpdesk.channel.register_sender(sender)
    message_id = await a_queued_reply(session, settings)
    assert await outbox.deliver(session, message_id, settings=settings) == "failed"
    enqueued.clear()

    assert await outbox.retry(session, message_id) is True
    requeued = await row(sessions, message_id)
    assert requeued.delivery_status == "queued" and requeued.delivery_attempts == 0
    assert enqueued == [(message_id, 0)]
    assert await outbox.retry(session, message_id) is False  # only failed messages can be retried

    assert await outbox.deliver(session, message_id, settings=settings) == "sent"
    assert len(sender.sent) == 1 and (await row(sessions, message_id)).delivery_error is None


# --- through a real Dramatiq worker ------------------------------------------------------------


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(outbox, "backoff_seconds", lambda attempt: 0.2)


async def wait_for_status(sessions, message_id: int, status: str, timeout: float = 20.0) -> Message:
    deadline = time.monotonic() + timeout
    while True:
        current = await row(sessions, message_id)
        if current.delivery_status == status:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"message {message_id} is {current.delivery_status!r}, not {status!r}, after {timeout}s")
        await asyncio.sleep(0.05)


@pytest.fixture
def in_process_worker(settings):
    """The embedded default: StubBroker consumed by a real dramatiq.Worker in this process."""
    from workers.broker import setup_broker, start_worker

    previous = dramatiq.get_broker()
    broker = setup_broker(settings.with_(broker_url=None))
    worker = start_worker(broker, threads=2)
    yield broker
    worker.stop()
    broker.close()
    dramatiq.set_broker(previous)
    from helpdesk import db

    # the worker closed its database connections on shutdown: no stopped loop still holds an engine
    assert not [loop for loop in list(db._factories) if loop.is_closed()]


@pytest.fixture
def redis_worker(settings, redis_url):
    """Production shape: Redis broker, a dramatiq.Worker consuming it (here, in the test process)."""
    from workers.broker import setup_broker

    previous = dramatiq.get_broker()
    broker = setup_broker(settings.with_(broker_url=redis_url))
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield broker
    worker.stop()
    broker.close()
    dramatiq.set_broker(previous)


async def test_in_process_worker_delivers_a_queued_reply(in_process_worker, session, sessions, settings):
    sender = StubSender("email")
    helpdesk.channel.register_sender(sender)  # after setup_broker, which installs the real senders
    message_id = await a_queued_reply(session, settings)
    await wait_for_status(sessions, message_id, "sent")
    assert len(sender.sent) == 1 and sender.sent[0].message_id == message_id


async def test_in_process_worker_retries_with_back_off_then_sends_once(
    in_process_worker, fast_backoff, session, sessions, settings
):
    sender = StubSender("email", fail_times=2, retryable=True)
    helpdesk.channel.register_sender(sender)
    message_id = await a_queued_reply(session, settings)
    done = await wait_for_status(sessions, message_id, "sent")
    assert done.delivery_attempts == 3
    assert sender.calls == 3 and len(sender.sent) == 1


async def test_sweep_actor_recovers_a_lost_broker_message(in_process_worker, session, sessions, settings):
    import workers.actors as actors

    sender = StubSender("email")
    helpdesk.channel.register_sender(sender)
    enqueuer = outbox._enqueuer
    outbox.set_enqueuer(None)  # the broker message is lost
    message_id = await a_queued_reply(session, settings)
    outbox.set_enqueuer(enqueuer)
    await session.execute(
        update(Message).where(Message.id == message_id).values(updated_at=utcnow() - timedelta(minutes=2))
    )
    await session.commit()

    actors.sweep_outbox.send()
    await wait_for_status(sessions, message_id, "sent")
    assert len(sender.sent) == 1


async def test_redis_broker_delivers_a_queued_reply(redis_worker, session, sessions, settings):
    sender = StubSender("email")
    helpdesk.channel.register_sender(sender)
    message_id = await a_queued_reply(session, settings)
    await wait_for_status(sessions, message_id, "sent")
    assert len(sender.sent) == 1 and sender.sent[0].message_id == message_id
    assert await session.scalar(select(Message.delivery_attempts).where(Message.id == message_id)) == 1
