"""Thin actors: each loads what it needs and calls a domain function. They take ids, never objects."""
from __future__ import annotations

import asyncio

import dramatiq
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from helpdesk import outbox
from helpdesk.db import make_engine, make_session_factory
from workers.broker import current_settings

# asyncpg connections belong to the event loop that opened them: one engine per loop.
_engines: dict[int, tuple[AsyncEngine, async_sessionmaker[AsyncSession]]] = {}


def sessions() -> async_sessionmaker[AsyncSession]:
    loop = asyncio.get_running_loop()
    entry = _engines.get(id(loop))
    if entry is None:
        engine = make_engine(current_settings())
        entry = _engines[id(loop)] = (engine, make_session_factory(engine))
    return entry[1]


async def dispose_engines() -> None:
    loop_id = id(asyncio.get_running_loop())
    entry = _engines.pop(loop_id, None)
    if entry:
        await entry[0].dispose()


# Outbox retries are ours (back-off stored on the row, see helpdesk/outbox.py), not Dramatiq's.
@dramatiq.actor(queue_name="outbox", max_retries=0)
async def deliver_message(message_id: int) -> None:
    async with sessions()() as session:
        await outbox.deliver(session, message_id, settings=current_settings())


@dramatiq.actor(queue_name="schedule", max_retries=0)
async def sweep_outbox() -> None:
    async with sessions()() as session:
        await outbox.sweep(session, settings=current_settings())


ACTORS = [deliver_message, sweep_outbox]


def _enqueue_delivery(message_id: int, delay_seconds: float) -> None:
    deliver_message.send_with_options(args=(message_id,), delay=int(delay_seconds * 1000) or None)


def rebind(broker: dramatiq.Broker) -> None:
    """Declare every actor on `broker` (tests and `serve` may set up a new broker)."""
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    outbox.set_enqueuer(_enqueue_delivery)
