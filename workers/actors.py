"""Thin actors: each loads what it needs and calls a domain function. They take ids, never objects."""
from __future__ import annotations

import base64

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email import imap
from helpdesk import db
from helpdesk.inbound import pipeline
from helpdesk.integrations import deliveries as webhook_deliveries
from helpdesk.integrations import webhooks
from helpdesk.social import accounts as social_accounts
from helpdesk.sla import sweep as sla_sweep
from helpdesk.tickets import outbox, snooze
from workers.context import current_settings


def sessions() -> async_sessionmaker[AsyncSession]:
    """The worker loop's session factory (helpdesk.db: one engine per process and event loop)."""
    return db.sessions(current_settings())


class DisposeEngines(Middleware):
    """Closes the worker's database connections while its event loop still runs.

    Added after `AsyncIO`: `after_*` hooks run in reverse order, so this one runs before
    AsyncIO stops the loop.
    """

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(db.dispose_sessions())


# Outbox retries are ours (back-off stored on the row, see helpdesk/outbox.py), not Dramatiq's.
@dramatiq.actor(queue_name="outbox", max_retries=0)
async def deliver_message(message_id: int) -> None:
    async with sessions()() as session:
        # with the other chat replies that wait: a burst is delivered in batches (outbox.INSTANT_CHANNELS)
        await outbox.deliver_batch(session, message_id, settings=current_settings(), batch=outbox.BATCH)


# A verified webhook's body (base64: jobs are JSON), stored by `receive` before it is parsed; what cannot
# be read is quarantined there. Retried only when the database itself failed (nothing was recorded).
@dramatiq.actor(queue_name="inbound", max_retries=5, min_backoff=1000, max_backoff=60_000)
async def ingest_webhook(channel: str, body: str, account: str | None) -> None:
    await pipeline.receive(sessions(), channel, [base64.b64decode(body)], settings=current_settings(),
                           account=account)
    async with sessions()() as session:
        await social_accounts.webhook_seen(session, channel, account)


@dramatiq.actor(queue_name="schedule", max_retries=0)
async def sweep_outbox() -> None:
    async with sessions()() as session:
        await outbox.sweep(session, settings=current_settings())


# Webhook retries are ours too (back-off on the row, helpdesk/integrations/deliveries.py).
@dramatiq.actor(queue_name="webhooks", max_retries=0)
async def deliver_webhook(delivery_id: int) -> None:
    async with sessions()() as session:
        await webhook_deliveries.deliver(session, delivery_id, settings=current_settings())


@dramatiq.actor(queue_name="schedule", max_retries=0)
async def sweep_webhooks() -> None:
    async with sessions()() as session:
        await webhook_deliveries.sweep(session, settings=current_settings())


@dramatiq.actor(queue_name="schedule", max_retries=0, time_limit=30 * 60 * 1000)
async def poll_mailboxes() -> None:
    # the bookmark advances per batch, so a run cut short by the time limit resumes where it stopped
    await imap.poll_mailboxes(sessions(), settings=current_settings())


@dramatiq.actor(queue_name="schedule", max_retries=0)
async def wake_snoozed() -> None:
    # safe when runs overlap: each ticket is woken and its assignee notified once
    async with sessions()() as session:
        await snooze.wake_due(session)


@dramatiq.actor(queue_name="schedule", max_retries=0)
async def sweep_sla() -> None:
    # safe when runs overlap (several workers, or one slow run): each stamp and escalation happens once
    async with sessions()() as session:
        result = await sla_sweep.sweep(session)
        await outbox.mail_people(session, result.letters, settings=current_settings())


ACTORS = [deliver_message, ingest_webhook, sweep_outbox, poll_mailboxes, wake_snoozed, sweep_sla, deliver_webhook,
          sweep_webhooks]


def _enqueue_delivery(message_id: int, delay_seconds: float) -> None:
    deliver_message.send_with_options(args=(message_id,), delay=int(delay_seconds * 1000) or None)


def _enqueue_webhook(delivery_id: int, delay_seconds: float) -> None:
    deliver_webhook.send_with_options(args=(delivery_id,), delay=int(delay_seconds * 1000) or None)


def rebind(broker: dramatiq.Broker) -> None:
    """Declare every actor on `broker` (tests and `serve` may set up a new broker)."""
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    if not any(isinstance(m, DisposeEngines) for m in broker.middleware):
        broker.add_middleware(DisposeEngines())
    outbox.set_enqueuer(_enqueue_delivery)
    webhooks.set_enqueuer(_enqueue_webhook)
    pipeline.set_deferrer(_defer_webhook)


def _defer_webhook(channel: str, body: bytes, account: str | None) -> None:
    ingest_webhook.send(channel, base64.b64encode(body).decode("ascii"), account)
