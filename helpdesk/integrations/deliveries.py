"""Sending webhook deliveries: claim, sign, POST, record; retries with back-off; the sweep.

`deliver` claims the row with a conditional UPDATE (queued and due -> sending), committed before
the request, so two workers never both send it. A 2xx answer delivers it; anything else is a failed
attempt, tried again after `BACKOFF` and failed for good after the last. The answer's status, its
first 2,000 characters and the error are kept for the admin screen. Receivers deduplicate on the
`Helpdesk-Delivery` header: a delivery keeps its id across attempts.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.integrations import payloads, webhooks
from helpdesk.integrations.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature_header
from helpdesk.models import WebhookDelivery, WebhookEndpoint, utcnow
from helpdesk.settings import Settings

log = logging.getLogger(__name__)

BACKOFF = (10, 60, 300, 1800, 7200, 21600)  # seconds after attempt 1, 2, ...; after the 7th failure: failed
TIMEOUT_SECONDS = 10.0
RESPONSE_KEPT = 2000
STUCK_AFTER = timedelta(minutes=10)  # far beyond the request timeout: the worker died mid-send
USER_AGENT = "Helpdesk-Webhooks/1"

_D = WebhookDelivery


def body_of(payload: dict) -> bytes:
    """The exact bytes sent and signed."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    response: str | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def deliver(session: AsyncSession, delivery_id: int, *, settings: Settings,
                  transport: httpx.AsyncBaseTransport | None = None) -> str:
    """Send one due delivery; returns its status afterwards. Safe to call any number of times."""
    now = utcnow()
    claimed = (await session.execute(
        update(_D).where(_D.id == delivery_id, _D.status == "queued",
                         or_(_D.next_attempt_at.is_(None), _D.next_attempt_at <= now))
        .values(status="sending", attempts=_D.attempts + 1, next_attempt_at=now)
        .returning(_D.endpoint_id, _D.event, _D.payload, _D.attempts))).first()
    await session.commit()
    if claimed is None:
        return await session.scalar(select(_D.status).where(_D.id == delivery_id)) or "missing"
    endpoint = await session.get(WebhookEndpoint, claimed.endpoint_id)
    if endpoint is None or not endpoint.active:
        outcome = Outcome(None, None, "the endpoint is switched off")
        return await _record(session, delivery_id, claimed.attempts, outcome, final=True)
    outcome = await _post(endpoint, webhooks.secret_of(settings, endpoint), delivery_id, claimed.event,
                          body_of(claimed.payload), transport)
    return await _record(session, delivery_id, claimed.attempts, outcome)


async def _post(endpoint: WebhookEndpoint, secret: str, delivery_id: int, event: str, body: bytes,
                transport: httpx.AsyncBaseTransport | None) -> Outcome:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, EVENT_HEADER: event,
               DELIVERY_HEADER: str(delivery_id), SIGNATURE_HEADER: signature_header(secret, body)}
    try:
        # redirects are not followed: the signature is for this URL, and a 3xx says the URL is stale
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, transport=transport, follow_redirects=False) as client:
            response = await client.post(endpoint.url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return Outcome(None, None, f"{type(error).__name__}: {error}"[:1000] or type(error).__name__)
    text = response.text[:RESPONSE_KEPT]
    error = None if 200 <= response.status_code < 300 else f"the endpoint answered HTTP {response.status_code}"
    return Outcome(response.status_code, text, error)


async def _record(session: AsyncSession, delivery_id: int, attempts: int, outcome: Outcome, *,
                  final: bool = False) -> str:
    now = utcnow()
    values = {"last_status_code": outcome.status_code, "last_response": outcome.response,
              "last_error": outcome.error}
    delay = None
    if outcome.delivered:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
    elif not final and attempts <= len(BACKOFF):
        delay = BACKOFF[attempts - 1]
        values.update(status="queued", next_attempt_at=now + timedelta(seconds=delay))
    else:
        values.update(status="failed", next_attempt_at=None)
    await session.execute(update(_D).where(_D.id == delivery_id, _D.status == "sending").values(**values))
    await session.commit()
    if delay is not None:
        webhooks.enqueue(delivery_id, delay)
        log.warning("webhook delivery %s not delivered (attempt %s, next in %s s): %s", delivery_id, attempts,
                    delay, outcome.error)
    elif not outcome.delivered:
        log.warning("webhook delivery %s failed after %s attempts: %s", delivery_id, attempts, outcome.error)
    return values["status"]


async def retry(session: AsyncSession, delivery_id: int) -> bool:
    """An admin's "Retry" on a failed delivery: queued again with a fresh set of attempts."""
    result = await session.execute(update(_D).where(_D.id == delivery_id, _D.status == "failed")
                                   .values(status="queued", attempts=0, next_attempt_at=utcnow()))
    await session.commit()
    if result.rowcount:
        webhooks.enqueue(delivery_id)
    return bool(result.rowcount)


async def send_test(session: AsyncSession, endpoint_id: int) -> int:
    """A `webhook.test` delivery to one endpoint, queued and enqueued like any other; returns its id."""
    found = await webhooks.endpoint(session, endpoint_id)
    now = utcnow()
    delivery = WebhookDelivery(endpoint_id=found.id, event=webhooks.TEST_EVENT, status="queued", attempts=0,
                               payload=payloads.envelope(webhooks.TEST_EVENT, payloads.ping_data()),
                               next_attempt_at=now, created_at=now)
    session.add(delivery)
    await session.commit()
    webhooks.enqueue(delivery.id)
    return delivery.id


async def sweep(session: AsyncSession, *, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue queued deliveries that have been due for a while (their broker message was lost, or
    none was sent: a CLI process); fail deliveries stuck in `sending` (the worker died mid-request)."""
    now = now or utcnow()
    overdue = now - timedelta(seconds=settings.outbox_stale_seconds)
    due = list(await session.scalars(select(_D.id).where(_D.status == "queued", _D.next_attempt_at <= overdue)
                                     .order_by(_D.next_attempt_at).limit(1000)))
    if due:
        # due now: the next sweep leaves them alone while their messages wait in the broker
        await session.execute(update(_D).where(_D.id.in_(due), _D.status == "queued").values(next_attempt_at=now))
    stuck = await session.execute(
        update(_D).where(_D.status == "sending", _D.next_attempt_at < now - STUCK_AFTER)
        .values(status="failed", next_attempt_at=None,
                last_error="interrupted while sending (the worker stopped); retry it to send it again"))
    await session.commit()
    for delivery_id in due:
        webhooks.enqueue(delivery_id)
    return {"requeued": len(due), "interrupted": stuck.rowcount or 0}


async def recent(session: AsyncSession, endpoint_ids: list[int], *, per_endpoint: int = 10) -> dict[int, list[WebhookDelivery]]:
    """Each endpoint's last deliveries, newest first (one indexed query per endpoint)."""
    found = {}
    for endpoint_id in endpoint_ids:
        found[endpoint_id] = list(await session.scalars(
            select(_D).where(_D.endpoint_id == endpoint_id).order_by(_D.id.desc()).limit(per_endpoint)))
    return found

