"""Social webhooks as they run in a real installation: the request is answered once the delivery is
verified and queued; a Dramatiq worker stores, parses and ingests it (helpdesk/web/public.py,
workers/actors.py ingest_webhook). On the embedded default's in-process worker and on Redis."""
from __future__ import annotations

import asyncio
import time

import dramatiq
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from channels.social.simulator import module_for
from helpdesk.app import create_app
from helpdesk.files import read_blob
from helpdesk.inbound import pipeline
from helpdesk.models import CustomerIdentity, Message, SocialAccount, Ticket
from helpdesk.social.accounts import create_account

SECRET = "deferred-app-secret"
NUMBER_ID = "106540352242922"


def worker_for(settings, broker_url):
    from workers.broker import setup_broker, start_worker

    previous = dramatiq.get_broker()
    broker = setup_broker(settings.with_(broker_url=broker_url))
    worker = start_worker(broker, threads=2)
    return previous, broker, worker


@pytest.fixture(params=["in-process", "redis"])
def worker(request, settings):
    broker_url = None
    if request.param == "redis":
        broker_url = request.getfixturevalue("redis_url")
    previous, broker, worker = worker_for(settings, broker_url)
    yield broker
    worker.stop()
    broker.close()
    dramatiq.set_broker(previous)


async def wait_for_messages(session, external_id: str, timeout: float = 15) -> list[Message]:
    deadline = time.monotonic() + timeout
    while True:
        session.expire_all()
        rows = list(await session.scalars(select(Message).where(Message.external_id == external_id)))
        if rows or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_a_webhook_is_answered_at_once_and_ingested_by_the_worker(worker, settings, session):
    assert pipeline.can_defer()
    await create_account(session, settings, platform="whatsapp", external_id=NUMBER_ID, name="Shop WhatsApp",
                         access_token="token", app_secret=SECRET, verify_token="verify")
    whatsapp = module_for("whatsapp")
    body = whatsapp.inbound_body("whatsapp", NUMBER_ID, "+4915112345678", "Wo bleibt meine Bestellung?",
                                 name="Jana Kunde", message_id="wamid.deferred1")
    headers = {**whatsapp.signed_headers("whatsapp", body, SECRET), "content-type": "application/json"}
    async with AsyncTestClient(app=create_app(settings)) as client:
        started = time.monotonic()
        answer = await client.post("/webhooks/whatsapp", content=body, headers=headers)
        answered_in = time.monotonic() - started
        assert answer.status_code == 200 and answer.json() == {"accepted": True}
        assert answered_in < 1.0  # answered before any ingest work (the figure is bench.webhook_intake's)

        [message] = await wait_for_messages(session, "wamid.deferred1")
        assert message.text == "Wo bleibt meine Bestellung?" and message.account == NUMBER_ID
        assert read_blob(settings.raw_dir, message.raw_ref) == body  # the raw body, as it arrived
        ticket = await session.get(Ticket, message.ticket_id)
        identity = await session.scalar(select(CustomerIdentity).where(
            CustomerIdentity.customer_id == ticket.customer_id, CustomerIdentity.kind == "whatsapp"))
        assert identity.value == "+4915112345678" and identity.display_name == "Jana Kunde"

        again = await client.post("/webhooks/whatsapp", content=body, headers=headers)  # Meta delivers again
        assert again.status_code == 200
        other = whatsapp.inbound_body("whatsapp", NUMBER_ID, "+4915112345678", "Hallo?", message_id="wamid.deferred2")
        await client.post("/webhooks/whatsapp", content=other,
                          headers={**whatsapp.signed_headers("whatsapp", other, SECRET),
                                   "content-type": "application/json"})
        assert await wait_for_messages(session, "wamid.deferred2")
        assert await session.scalar(select(func.count()).select_from(Message)
                                    .where(Message.external_id == "wamid.deferred1")) == 1

        account = await session.scalar(select(SocialAccount).where(SocialAccount.external_id == NUMBER_ID))
        await session.refresh(account)
        assert account.last_webhook_at is not None  # the admin screen's "last webhook"

        refused = await client.post("/webhooks/whatsapp", content=body,
                                    headers={**whatsapp.signed_headers("whatsapp", body, "not-the-secret"),
                                             "content-type": "application/json"})
        assert refused.status_code == 401  # checked in the request, never queued
