"""Outbound webhooks: endpoints that subscribe to events, and `emit`, which writes one delivery row
per subscribed endpoint in the transaction of the change (the outbox pattern; sending is
helpdesk.integrations.deliveries).

`emit` is on the hot path (every ingested message): the active subscriptions are kept per process
for `CACHE_SECONDS`, so an event nobody subscribes to costs no query. A new endpoint reaches other
processes within that time; this process's cache is dropped at once. Rows written by `emit` are
enqueued for sending when their transaction commits (a Session `after_commit` hook), so callers add
one line and nothing else; a row whose enqueue is lost is sent by the sweep.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import event as sa_event
from sqlalchemy import bindparam, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from helpdesk import secrets
from helpdesk.integrations import payloads
from helpdesk.integrations.signing import new_secret
from helpdesk.models import WebhookDelivery, WebhookEndpoint, utcnow
from helpdesk.settings import Settings

log = logging.getLogger(__name__)

EVENTS = ("ticket.created", "ticket.updated", "message.created", "customer.merged")
TEST_EVENT = "webhook.test"  # sent by "Send test event" to one endpoint, whatever it subscribes to
CACHE_SECONDS = 5.0
_PENDING = "webhook_deliveries"  # Session.info key: delivery ids to enqueue once committed

_E, _D = WebhookEndpoint.__table__, WebhookDelivery.__table__
_ACTIVE = select(_E.c.id, _E.c.events).where(_E.c.active.is_(True)).order_by(_E.c.id)
# one delivery per endpoint, from the endpoints themselves: one removed or switched off in another
# process since this one cached the subscriptions is skipped, not a foreign-key error in the change
_QUEUE = insert(_D).from_select(
    ["endpoint_id", "event", "payload", "status", "attempts", "next_attempt_at", "created_at"],
    select(_E.c.id, bindparam("event", type_=_D.c.event.type), bindparam("payload", type_=_D.c.payload.type),
           literal("queued", _D.c.status.type), literal(0, _D.c.attempts.type),
           bindparam("now", type_=_D.c.next_attempt_at.type), bindparam("now", type_=_D.c.created_at.type))
    .where(_E.c.id.in_(bindparam("ids", expanding=True)), _E.c.active.is_(True)),
).returning(_D.c.id)


class EndpointInvalid(ValueError):
    """An endpoint that cannot be saved; `field` names the form field to show it next to."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Created:
    endpoint: WebhookEndpoint
    secret: str  # shown once, to the person who added the endpoint; stored only encrypted


# -- endpoints ------------------------------------------------------------------------------------

def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
        raise EndpointInvalid("the URL must start with http:// or https:// and name a host", field="url")
    if len(url) > 1000:
        raise EndpointInvalid("the URL can have at most 1,000 characters", field="url")
    return url


def check_events(events: list[str] | tuple[str, ...]) -> list[str]:
    chosen = [e.strip() for e in events if e.strip()]
    unknown = sorted(set(chosen) - set(EVENTS))
    if unknown:
        raise EndpointInvalid(f"unknown event {unknown[0]!r}; the events are {', '.join(EVENTS)}", field="events")
    if not chosen:
        raise EndpointInvalid("choose at least one event", field="events")
    return [e for e in EVENTS if e in chosen]


async def add_endpoint(session: AsyncSession, settings: Settings, *, url: str, events: list[str],
                       description: str = "") -> Created:
    """A new active endpoint with a new secret (returned once, stored encrypted)."""
    url, events = check_url(url), check_events(events)
    if len(description.strip()) > 200:
        raise EndpointInvalid("the description can have at most 200 characters", field="description")
    secret = new_secret()
    endpoint = WebhookEndpoint(url=url, events=events, description=description.strip() or None,
                               secret=secrets.encrypt(settings, secret), active=True)
    session.add(endpoint)
    await session.commit()
    subscriptions.invalidate()
    return Created(endpoint, secret)


async def list_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    return list(await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


async def endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    found = await session.get(WebhookEndpoint, endpoint_id)
    if found is None:
        raise EndpointInvalid(f"there is no webhook endpoint {endpoint_id}")
    return found


async def set_active(session: AsyncSession, endpoint_id: int, active: bool) -> WebhookEndpoint:
    found = await endpoint(session, endpoint_id)
    found.active = active
    await session.commit()
    subscriptions.invalidate()
    return found


async def remove_endpoint(session: AsyncSession, endpoint_id: int) -> None:
    """The endpoint and its deliveries (their rows cascade)."""
    found = await endpoint(session, endpoint_id)
    await session.execute(_D.delete().where(_D.c.endpoint_id == found.id))  # SQLite enforces no cascade by default
    await session.delete(found)
    await session.commit()
    subscriptions.invalidate()


def secret_of(settings: Settings, endpoint: WebhookEndpoint) -> str:
    return secrets.decrypt(settings, endpoint.secret)


# -- the subscriptions, per process ---------------------------------------------------------------

class Subscriptions:
    """Active endpoint ids per event, per database, read at most every CACHE_SECONDS."""

    def __init__(self) -> None:
        self._loaded: dict[str, tuple[float, dict[str, list[int]]]] = {}

    def invalidate(self) -> None:
        self._loaded.clear()

    def cached(self, database: str, event: str) -> list[int] | None:
        """The endpoints of `event`, or None when they must be read again."""
        found = self._loaded.get(database)
        if found is None or time.monotonic() - found[0] >= CACHE_SECONDS:
            return None
        return found[1].get(event, [])

    def endpoints(self, conn, event: str) -> list[int]:
        database = _database_of(conn.engine)
        cached = self.cached(database, event)
        if cached is not None:
            return cached
        by_event: dict[str, list[int]] = {}
        for endpoint_id, events in conn.execute(_ACTIVE):
            for name in events or ():
                by_event.setdefault(name, []).append(endpoint_id)
        self._loaded[database] = (time.monotonic(), by_event)
        return by_event.get(event, [])


subscriptions = Subscriptions()


def _database_of(engine) -> str:
    return engine.url.render_as_string(hide_password=True)


# -- emit -----------------------------------------------------------------------------------------

def emit_on(sync_session: Session, conn, event: str, *refs: dict) -> None:
    """For each of `refs` (the ids the event is about), one `queued` delivery per endpoint that
    subscribes to `event`, written on `conn` in its open transaction (Core SQL: for ingest's unit
    of work). Nothing is read or written when no endpoint subscribes."""
    endpoint_ids = subscriptions.endpoints(conn, event)
    if not endpoint_ids or not refs:
        return
    for ref in refs:
        _queue(sync_session, conn, endpoint_ids, event, payloads.data_for(conn, event, ref))


def _queue(sync_session: Session, conn, endpoint_ids: list[int], event: str, data: dict) -> None:
    payload = payloads.envelope(event, data)
    written = conn.execute(_QUEUE, {"ids": endpoint_ids, "event": event, "payload": payload, "now": utcnow()})
    sync_session.info.setdefault(_PENDING, []).extend(written.scalars())


async def emit(session: AsyncSession, event: str, *refs: dict) -> None:
    """`emit_on` for an ORM session: the rows join the session's transaction, written now (the
    session's pending changes flushed first, so the payload sees them) and sent once it commits.
    A ref's value may be an object added to the session but not flushed yet: its id is used."""
    database = _database_of(session.sync_session.get_bind())
    if subscriptions.cached(database, event) == [] or not refs:
        return  # the hot case: nobody listens, no query and no flush
    await session.flush()
    refs = tuple({name: getattr(value, "id", value) for name, value in ref.items()} for ref in refs)
    await session.run_sync(lambda sync: emit_on(sync, sync.connection(), event, *refs))


def message_stored(sync_session: Session, conn, ticket_id: int, message_id: int, *, created: bool) -> None:
    """What an ingested message means to integrations: maybe a new ticket, always a new message
    (the ticket read once for both)."""
    created_to = subscriptions.endpoints(conn, "ticket.created") if created else []
    message_to = subscriptions.endpoints(conn, "message.created")
    if not created_to and not message_to:
        return
    ticket = payloads.ticket(conn, ticket_id)
    if created_to:
        _queue(sync_session, conn, created_to, "ticket.created", {"ticket": ticket})
    if message_to:
        _queue(sync_session, conn, message_to, "message.created",
               {"ticket": ticket, "message": payloads.message(conn, message_id)})


# -- enqueue once committed -----------------------------------------------------------------------

Enqueuer = Callable[[int, float], None]  # (delivery_id, delay_seconds)
_enqueuer: Enqueuer | None = None


def set_enqueuer(enqueuer: Enqueuer | None) -> None:
    global _enqueuer
    _enqueuer = enqueuer


def enqueue(delivery_id: int, delay_seconds: float = 0) -> None:
    if _enqueuer is None:
        return  # no worker set up in this process (a CLI command): the sweep sends it
    try:
        _enqueuer(delivery_id, delay_seconds)
    except Exception:  # noqa: BLE001 - the row is committed; the sweep will pick it up
        log.exception("enqueue of webhook delivery %s failed; the sweep will retry", delivery_id)


@sa_event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    for delivery_id in session.info.pop(_PENDING, ()):
        enqueue(delivery_id)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction) -> None:
    session.info.pop(_PENDING, None)
