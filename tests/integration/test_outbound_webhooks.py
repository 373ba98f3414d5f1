"""Outbound webhooks: deliveries committed with the change, signed, sent to a real HTTP receiver on
127.0.0.1, retried with back-off, swept, shown on the admin screen — on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import event, select, update

from helpdesk.customers import records as customers
from helpdesk.inbound.ingest import ingest
from helpdesk.integrations import deliveries, webhooks
from helpdesk.integrations.signing import signature_header
from helpdesk.integrations.webhooks import EndpointInvalid
from helpdesk.models import Ticket, WebhookDelivery, utcnow
from helpdesk.tickets import actions, outbox
from helpdesk.staff.agents import create_agent
from tests.conftest import free_port
from tests.factories import inbound
from tests.support.console import app, client, shop, sign_in  # noqa: F401


class Receiver:
    """An HTTP server that records each request (headers and raw body) and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[tuple[int, str]] = []  # consumed in order; then 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, text = receiver.answers.pop(0) if receiver.answers else (200, "ok")
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(autouse=True)
def wiring():
    """No broker: what the after-commit hook enqueues is recorded; each test reads subscriptions afresh."""
    enqueued: list[tuple[int, float]] = []
    webhooks.set_enqueuer(lambda delivery_id, delay: enqueued.append((delivery_id, delay)))
    webhooks.subscriptions.invalidate()
    yield enqueued
    webhooks.set_enqueuer(None)
    webhooks.subscriptions.invalidate()


def _documented_verifier():
    """The receiver code docs/webhooks.md gives integrations, run as they would run it."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_helpdesk_webhook"]


verify = _documented_verifier()


async def deliveries_of(sessions, endpoint_id: int | None = None) -> list[WebhookDelivery]:
    async with sessions() as fresh:
        query = select(WebhookDelivery).order_by(WebhookDelivery.id)
        if endpoint_id is not None:
            query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
        return list(await fresh.scalars(query))


async def test_ticket_created_through_ingest_sends_one_signed_delivery(session, sessions, settings, receiver,
                                                                       wiring):
    created = await webhooks.add_endpoint(session, settings, url=receiver.url, events=["ticket.created"],
                                          description="CRM")
    assert created.secret.startswith("whsec_") and created.secret not in created.endpoint.secret  # stored encrypted
    result = await ingest(session, inbound(sender="Ann@Example.com", subject="Where is my order?"), settings=settings)
    [delivery] = await deliveries_of(sessions)
    assert (delivery.event, delivery.status, delivery.attempts) == ("ticket.created", "queued", 0)
    assert wiring == [(delivery.id, 0)]  # enqueued once the ingest committed

    assert await deliveries.deliver(session, delivery.id, settings=settings) == "delivered"
    [(headers, body)] = receiver.requests
    payload = verify(created.secret, headers["helpdesk-signature"], body)
    assert headers["helpdesk-event"] == "ticket.created" and headers["helpdesk-delivery"] == str(delivery.id)
    assert headers["content-type"] == "application/json"
    assert payload["event"] == "ticket.created" and payload["id"].startswith("evt_") and payload["created_at"]
    ticket = payload["data"]["ticket"]
    assert (ticket["id"], ticket["number"], ticket["status"], ticket["priority"], ticket["channel"]) == (
        result.ticket_id, result.ticket_id, "new", "normal", "email")
    assert ticket["subject"] == "Where is my order?" and ticket["tags"] == [] and ticket["assignee"] is None
    assert ticket["customer"] == {"id": result.customer_id, "name": "Ann Example", "organization_id": None,
                                  "emails": ["ann@example.com"]}
    with pytest.raises(ValueError):
        verify("whsec_wrong", headers["helpdesk-signature"], body)
    with pytest.raises(ValueError):
        verify(created.secret, headers["helpdesk-signature"], body.replace(b"Where", b"Here"))
    with pytest.raises(ValueError, match="too old"):  # a replayed request
        verify(created.secret, signature_header(created.secret, body, int(time.time()) - 600), body)
    # delivered once: calling again sends nothing
    assert await deliveries.deliver(session, delivery.id, settings=settings) == "delivered"
    assert len(receiver.requests) == 1
    done = (await deliveries_of(sessions))[0]
    assert (done.attempts, done.last_status_code, done.last_response, done.delivered_at is not None) == (
        1, 200, "ok", True)


async def test_only_subscribed_events_are_sent(session, sessions, settings, receiver):
    messages = await webhooks.add_endpoint(session, settings, url=receiver.url, events=["message.created"])
    updates = await webhooks.add_endpoint(session, settings, url=receiver.url + "/updates", events=["ticket.updated"])
    merges = await webhooks.add_endpoint(session, settings, url=receiver.url + "/merges", events=["customer.merged"])
    first = await ingest(session, inbound(sender="ann@example.com"), settings=settings)
    [inbound_message] = await deliveries_of(sessions, messages.endpoint.id)
    assert inbound_message.payload["data"]["message"]["direction"] == "inbound"
    assert inbound_message.payload["data"]["message"]["text"] == "Hello, my parcel has not arrived."
    assert await deliveries_of(sessions, updates.endpoint.id) == []  # a new ticket is not an update

    agent = await create_agent(session, email="bea@shop.test", name="Bea Agent", role="agent", password="x" * 12)
    ticket = await session.get(Ticket, first.ticket_id)
    await actions.update_ticket(session, ticket, actions.Changes(status="pending", priority="high",
                                                                  assignee_id=agent.id, tags=("vip",)),
                                agent=agent)
    [updated] = await deliveries_of(sessions, updates.endpoint.id)
    data = updated.payload["data"]
    assert data["changes"]["status"] == ["new", "pending"] and data["changes"]["priority"] == ["normal", "high"]
    assert data["changes"]["tags"] == {"added": ["vip"], "removed": []}
    assert (data["ticket"]["status"], data["ticket"]["priority"], data["ticket"]["tags"]) == ("pending", "high", ["vip"])
    assert data["ticket"]["assignee"] == {"id": agent.id, "name": "Bea Agent", "email": "bea@shop.test"}

    reply = await outbox.queue_reply(session, ticket, settings=settings, text="It is on its way.", agent=agent)
    replies = await deliveries_of(sessions, messages.endpoint.id)
    assert [d.payload["data"]["message"]["id"] for d in replies] == [first.message_id, reply.id]
    assert replies[1].payload["data"]["message"]["author"]["agent_id"] == agent.id

    other = await ingest(session, inbound(channel="whatsapp", sender="+49 151 1234567", subject=None, text="Hi"),
                         settings=settings)
    await customers.merge_customers(session, other.customer_id, first.customer_id)
    [merged] = await deliveries_of(sessions, merges.endpoint.id)
    assert merged.payload["data"]["customer"]["id"] == first.customer_id
    assert merged.payload["data"]["merged_customer_id"] == other.customer_id
    assert {d.event for d in await deliveries_of(sessions)} == {"message.created", "ticket.updated", "customer.merged"}


async def test_a_500_then_a_200_is_retried_and_delivered_once(session, sessions, settings, receiver, wiring):
    await webhooks.add_endpoint(session, settings, url=receiver.url, events=["ticket.created"])
    receiver.answers = [(500, "<h1>Internal Server Error</h1>")]
    await ingest(session, inbound(), settings=settings)
    [delivery] = await deliveries_of(sessions)
    before = utcnow()
    assert await deliveries.deliver(session, delivery.id, settings=settings) == "queued"
    failed = (await deliveries_of(sessions))[0]
    assert (failed.attempts, failed.last_status_code, failed.last_response) == (1, 500, "<h1>Internal Server Error</h1>")
    assert failed.last_error == "the endpoint answered HTTP 500"
    assert timedelta(seconds=9) < failed.next_attempt_at - before < timedelta(seconds=12)
    assert wiring[-1] == (delivery.id, 10)  # retried after the first back-off step
    # a duplicate broker message before the time comes sends nothing
    assert await deliveries.deliver(session, delivery.id, settings=settings) == "queued"
    assert len(receiver.requests) == 1
    await _due_now(sessions, delivery.id)
    assert await deliveries.deliver(session, delivery.id, settings=settings) == "delivered"
    assert await deliveries.deliver(session, delivery.id, settings=settings) == "delivered"
    assert len(receiver.requests) == 2
    assert receiver.requests[0][0]["helpdesk-delivery"] == receiver.requests[1][0]["helpdesk-delivery"]
    done = (await deliveries_of(sessions))[0]
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == ("delivered", 2, 200, None)


async def test_a_receiver_that_is_down_leaves_the_delivery_queued_with_the_error(session, sessions, settings):
    await webhooks.add_endpoint(session, settings, url=f"http://127.0.0.1:{free_port()}/down", events=["ticket.created"])
    await ingest(session, inbound(), settings=settings)
    [delivery] = await deliveries_of(sessions)
    assert await deliveries.deliver(session, delivery.id, settings=settings) == "queued"
    after = (await deliveries_of(sessions))[0]
    assert after.status == "queued" and after.attempts == 1 and after.last_status_code is None
    assert after.last_error.startswith("ConnectError") and after.next_attempt_at > utcnow()


async def test_the_last_attempt_fails_the_delivery_and_retry_queues_it_again(session, sessions, settings, receiver,
                                                                             wiring):
    await webhooks.add_endpoint(session, settings, url=receiver.url, events=["ticket.created"])
    receiver.answers = [(503, "busy")] * (len(deliveries.BACKOFF) + 1)
    await ingest(session, inbound(), settings=settings)
    [delivery] = await deliveries_of(sessions)
    for _ in range(len(deliveries.BACKOFF)):
        assert await deliveries.deliver(session, delivery.id, settings=settings) == "queued"
        await _due_now(sessions, delivery.id)
    assert await deliveries.deliver(session, delivery.id, settings=settings) == "failed"
    assert [delay for _, delay in wiring[1:]] == list(deliveries.BACKOFF)
    assert await deliveries.retry(session, delivery.id) is True
    assert await deliveries.retry(session, delivery.id) is False  # queued, not failed
    assert await deliveries.deliver(session, delivery.id, settings=settings) == "delivered"


async def test_sweep_resends_a_lost_delivery_and_fails_one_stuck_in_sending(session, sessions, settings, receiver,
                                                                            wiring):
    await webhooks.add_endpoint(session, settings, url=receiver.url, events=["ticket.created", "message.created"])
    await ingest(session, inbound(), settings=settings)
    lost, stuck = await deliveries_of(sessions)
    wiring.clear()  # the broker lost both messages
    long_ago = utcnow() - timedelta(minutes=30)
    async with sessions() as fresh:
        await fresh.execute(update(WebhookDelivery).where(WebhookDelivery.id == lost.id)
                            .values(next_attempt_at=long_ago))
        await fresh.execute(update(WebhookDelivery).where(WebhookDelivery.id == stuck.id)
                            .values(status="sending", attempts=1, next_attempt_at=long_ago))
        await fresh.commit()
    assert await deliveries.sweep(session, settings=settings) == {"requeued": 1, "interrupted": 1}
    assert wiring == [(lost.id, 0)]
    assert await deliveries.sweep(session, settings=settings) == {"requeued": 0, "interrupted": 0}  # not again at once
    assert await deliveries.deliver(session, lost.id, settings=settings) == "delivered"
    failed = next(d for d in await deliveries_of(sessions) if d.id == stuck.id)
    assert failed.status == "failed" and "interrupted" in failed.last_error


async def test_endpoint_urls_and_events_are_checked(session, settings):
    for url in ("ftp://example.com/x", "javascript:alert(1)", "file:///etc/passwd", "https://"):
        with pytest.raises(EndpointInvalid) as refused:
            await webhooks.add_endpoint(session, settings, url=url, events=["ticket.created"])
        assert refused.value.field == "url"
    with pytest.raises(EndpointInvalid, match="choose at least one event"):
        await webhooks.add_endpoint(session, settings, url="https://example.com/x", events=[])
    with pytest.raises(EndpointInvalid, match="unknown event"):
        await webhooks.add_endpoint(session, settings, url="https://example.com/x", events=["ticket.deleted"])


async def test_a_disabled_endpoint_gets_nothing(session, sessions, settings, receiver):
    created = await webhooks.add_endpoint(session, settings, url=receiver.url, events=["ticket.created"])
    await webhooks.set_active(session, created.endpoint.id, False)
    await ingest(session, inbound(), settings=settings)
    assert await deliveries_of(sessions) == []


async def test_emit_costs_no_query_when_nothing_subscribes(session, engine, settings):
    await ingest(session, inbound(sender="warm@example.com"), settings=settings)  # reads the (empty) subscriptions
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        await ingest(session, inbound(sender="new@example.com", subject="Another question"), settings=settings)
        await ingest(session, inbound(sender="new@example.com", subject="Re: Another question", text="more",
                                      token=None), settings=settings)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert statements and not [s for s in statements if "webhook" in s.lower()]


async def test_an_endpoint_removed_elsewhere_does_not_break_ingest(session, sessions, settings, receiver):
    created = await webhooks.add_endpoint(session, settings, url=receiver.url, events=["ticket.created"])
    await ingest(session, inbound(sender="first@example.com"), settings=settings)  # caches the subscription
    async with sessions() as other_process:  # removed without this process's cache knowing
        await other_process.execute(WebhookDelivery.__table__.delete())
        await other_process.execute(webhooks._E.delete())
        await other_process.commit()
    result = await ingest(session, inbound(sender="second@example.com"), settings=settings)
    assert result.created_ticket and await deliveries_of(sessions) == []
    assert created.endpoint.id


# --- the admin screen ----------------------------------------------------------------------------------


async def test_admin_screen_adds_an_endpoint_shows_the_secret_once_and_the_last_response(
        client, session, sessions, settings, receiver):
    token = await sign_in(client, "admin")
    refused = await client.post("/console/admin/webhooks", data={"url": "ftp://example.com", "ticket_created": "1",
                                                                 "_csrf_token": token})
    assert refused.status_code == 400 and 'id="admin-error"' in refused.text and "http://" in refused.text
    assert 'value="ftp://example.com"' in refused.text  # the form keeps what was typed
    added = await client.post("/console/admin/webhooks", data={"url": receiver.url, "description": "CRM sync",
                                                               "ticket_created": "1", "message_created": "1",
                                                               "_csrf_token": token})
    assert added.status_code == 200 and 'id="new-webhook-secret"' in added.text
    [endpoint] = await webhooks.list_endpoints(session)
    secret = webhooks.secret_of(settings, endpoint)
    assert secret in added.text and endpoint.events == ["ticket.created", "message.created"]
    page = await client.get("/console/admin/webhooks")
    assert secret not in page.text and receiver.url in page.text and "No deliveries yet." in page.text

    receiver.answers = [(500, "<script>alert('x')</script> down")]
    tested = await client.post(f"/console/admin/webhooks/{endpoint.id}/test", data={"_csrf_token": token})
    assert "Test event queued" in tested.text
    [delivery] = await deliveries_of(sessions)
    assert delivery.event == "webhook.test"
    await deliveries.deliver(session, delivery.id, settings=settings)
    verify(secret, receiver.requests[0][0]["helpdesk-signature"], receiver.requests[0][1])
    page = await client.get("/console/admin/webhooks")
    assert "HTTP 500" in page.text and "&lt;script&gt;alert(" in page.text and "<script>alert(" not in page.text

    async with sessions() as fresh:
        await fresh.execute(update(WebhookDelivery).values(status="failed"))
        await fresh.commit()
    page = await client.get("/console/admin/webhooks")
    assert f'id="retry-delivery-{delivery.id}"' in page.text
    retried = await client.post(f"/console/admin/webhooks/deliveries/{delivery.id}/retry", data={"_csrf_token": token})
    assert f"Delivery {delivery.id} queued again." in retried.text
    again = await client.post(f"/console/admin/webhooks/deliveries/{delivery.id}/retry", data={"_csrf_token": token})
    assert again.status_code == 409 and "only a failed delivery" in again.text

    off = await client.post(f"/console/admin/webhooks/{endpoint.id}/active", data={"active": "0", "_csrf_token": token})
    assert "is off" in off.text and 'data-state="off"' in off.text
    removed = await client.post(f"/console/admin/webhooks/{endpoint.id}/delete", data={"_csrf_token": token})
    assert "removed" in removed.text and 'id="no-webhooks"' in removed.text
    assert await deliveries_of(sessions) == []


async def _due_now(sessions, delivery_id: int) -> None:
    async with sessions() as fresh:
        await fresh.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                            .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        await fresh.commit()


# --- the command line ------------------------------------------------------------------------------


def test_cli_adds_lists_tests_and_removes_an_endpoint(tmp_path, receiver):
    import os

    from tests.integration.test_cli import helpdesk

    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'hooks.sqlite3'}",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    refused = helpdesk(["webhooks", "add", "ftp://example.com/x", "-e", "ticket.created"], env, tmp_path)
    assert refused.returncode == 1 and "http://" in refused.stderr
    added = helpdesk(["webhooks", "add", receiver.url, "-e", "ticket.created", "-e", "customer.merged",
                      "--description", "CRM"], env, tmp_path)
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert secret.startswith("whsec_") and "Endpoint 1 added" in added.stderr
    listed = helpdesk(["webhooks", "list", "--json"], env, tmp_path)
    assert json.loads(listed.stdout)["endpoints"] == [{"id": 1, "url": receiver.url, "active": True, "description": "CRM",
                                                       "events": ["ticket.created", "customer.merged"]}]
    assert secret not in listed.stdout
    tested = helpdesk(["webhooks", "test", "1"], env, tmp_path)
    assert tested.returncode == 0 and "delivered: HTTP 200" in tested.stderr, tested.stderr
    [(headers, body)] = receiver.requests
    assert verify(secret, headers["helpdesk-signature"], body)["event"] == "webhook.test"
    receiver.answers = [(502, "bad gateway")]
    failing = helpdesk(["webhooks", "test", "1"], env, tmp_path)
    assert failing.returncode == 1 and "HTTP 502" in failing.stderr and "retried with back-off" in failing.stderr
    shown = helpdesk(["webhooks", "deliveries", "--endpoint", "1"], env, tmp_path)
    assert "webhook.test" in shown.stdout and "HTTP 502" in shown.stdout and "delivered" in shown.stdout
    assert helpdesk(["webhooks", "remove", "1"], env, tmp_path).returncode == 0
    assert "No webhook endpoints." in helpdesk(["webhooks", "list"], env, tmp_path).stdout
    assert helpdesk(["webhooks", "remove", "1"], env, tmp_path).returncode == 1


# --- through a real Dramatiq worker -----------------------------------------------------------------


@pytest.fixture
def in_process_worker(settings):
    """The embedded default: StubBroker consumed by a real dramatiq.Worker in this process."""
    import dramatiq

    from workers.broker import setup_broker, start_worker

    previous = dramatiq.get_broker()
    broker = setup_broker(settings.with_(broker_url=None))
    worker = start_worker(broker, threads=2)
    yield broker
    worker.stop()
    broker.close()
    dramatiq.set_broker(previous)


async def wait_for(sessions, status: str, timeout: float = 20.0) -> WebhookDelivery:
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        found = await deliveries_of(sessions)
        if found and found[0].status == status:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries {[(d.id, d.status) for d in found]}, none {status!r} after {timeout} s")
        await asyncio.sleep(0.05)


async def test_a_worker_sends_after_commit_and_retries_with_back_off(in_process_worker, monkeypatch, session,
                                                                      sessions, settings, receiver):
    monkeypatch.setattr(deliveries, "BACKOFF", (0.2, 0.2))
    await webhooks.add_endpoint(session, settings, url=receiver.url, events=["ticket.created"])
    receiver.answers = [(500, "oops"), (502, "again")]
    await ingest(session, inbound(), settings=settings)
    done = await wait_for(sessions, "delivered")
    assert done.attempts == 3 and len(receiver.requests) == 3
    assert len({headers["helpdesk-delivery"] for headers, _ in receiver.requests}) == 1
