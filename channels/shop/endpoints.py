"""`POST /webhooks/shopify`: a shop's order deliveries, verified, then upserted before the answer.

Stored before 200, without a broker: an order is a small upsert, far below Shopify's five-second
limit, so it is in the customer panel the moment Shopify hears 200 and nothing is kept in a queue.
Deliveries arriving together are upserted together (`GroupCommit`): while one batch is written, the
next gathers, and each request is answered once its batch is committed. One order alone costs ~7
statements; 100 together cost about the same, which is what carries a burst (bench/order_webhook.py).
A replayed delivery (`X-Shopify-Webhook-Id` seen by this process) is answered at once; the
(source, external_id) upsert makes a replay harmless in any process.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict

from litestar import Request, Response, Router, post

from channels.shop import shopify
from helpdesk.channel import SignatureInvalid, UnreadablePayload
from helpdesk.customers import shops
from helpdesk.customers.orders import OrderIn, Upserted, upsert_orders_bulk
from helpdesk.settings import Settings

log = logging.getLogger(__name__)
MAX_BODY = 2 * 1024 * 1024  # an order with hundreds of lines stays well under it
REMEMBERED = 10_000  # delivery ids this process remembers, for replays


class Deliveries:
    """The delivery ids this process has stored lately (bounded: a replay older than that is still
    harmless, the upsert sees the same version)."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._seen: OrderedDict[tuple[int, str], None] = OrderedDict()
        self._size = size

    def seen(self, shop_id: int, webhook_id: str | None) -> bool:
        return bool(webhook_id) and (shop_id, webhook_id) in self._seen

    def remember(self, shop_id: int, webhook_id: str | None) -> None:
        if webhook_id:
            self._seen[(shop_id, webhook_id)] = None
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)


deliveries = Deliveries()


class GroupCommit:
    """Orders from concurrent requests upserted in one transaction (module docstring); per event loop."""

    MAX_BATCH = 200

    def __init__(self) -> None:
        self._waiting: list[tuple[OrderIn, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def upsert(self, sessions, order: OrderIn) -> Upserted:
        answer = asyncio.get_running_loop().create_future()
        self._waiting.append((order, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(sessions))
        return await answer

    async def _write(self, sessions) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self.MAX_BATCH], self._waiting[self.MAX_BATCH:]
                try:
                    outcomes = await _upsert(sessions, [order for order, _ in batch])
                except Exception as error:  # noqa: BLE001 - the request answers 500: Shopify delivers it again
                    if len(batch) == 1:
                        _settle(batch[0][1], error=error)
                    else:  # one order must not fail the others: each again, alone
                        log.warning("a batch of %d orders failed (%s): upserting each alone", len(batch), error)
                        for order, answer in batch:
                            await self._alone(sessions, order, answer)
                    continue
                for order, answer in batch:
                    _settle(answer, outcomes[(order.source, order.external_id)])
        finally:
            self._writer = None

    async def _alone(self, sessions, order: OrderIn, answer: asyncio.Future) -> None:
        try:
            outcome = (await _upsert(sessions, [order]))[(order.source, order.external_id)]
        except Exception as error:  # noqa: BLE001
            _settle(answer, error=error)
        else:
            _settle(answer, outcome)


async def _upsert(sessions, orders: list[OrderIn]) -> dict[tuple[str, str], Upserted]:
    async with sessions() as session:
        result = await upsert_orders_bulk(session, orders, replace_items=True)
        await session.commit()
    return {(done.source, done.external_id): done for done in result.orders}


def _settle(answer: asyncio.Future, outcome: Upserted | None = None, *, error: Exception | None = None) -> None:
    if answer.done():  # the request went away (client disconnected): nobody to tell
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(outcome)


_group_commits: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> GroupCommit


def group_commit() -> GroupCommit:
    loop = asyncio.get_running_loop()
    if loop not in _group_commits:
        _group_commits[loop] = GroupCommit()
    return _group_commits[loop]


@post("/", status_code=200, include_in_schema=False)
async def receive_order(request: Request, settings: Settings) -> Response:
    body = await request.body()
    domain = request.headers.get("x-shopify-shop-domain", "")
    shop = await shops.directory.shop(settings, domain)
    try:
        if shop is None:
            raise SignatureInvalid(f"no shop with domain {domain!r} (X-Shopify-Shop-Domain)")
        shopify.verify(shop.webhook_secret, body, request.headers.get("x-shopify-hmac-sha256"))
    except SignatureInvalid as error:
        log.warning("shopify webhook from %s refused: %s", request.client.host if request.client else "?", error)
        return Response({"detail": str(error)}, status_code=401)
    topic = request.headers.get("x-shopify-topic", "")
    webhook_id = request.headers.get("x-shopify-webhook-id")
    if topic not in shopify.ORDER_TOPICS:
        log.info("shopify webhook %s from %s ignored: only %s are read", topic, shop.domain,
                 " and ".join(shopify.ORDER_TOPICS))
        return Response({"ignored": topic}, status_code=200)
    if deliveries.seen(shop.id, webhook_id):
        return Response({"duplicate": True}, status_code=200)
    try:
        order = shopify.parse(body)
    except UnreadablePayload as error:
        log.warning("shopify webhook %s from %s malformed: %s", topic, shop.domain, error)
        return Response({"detail": f"malformed Shopify order: {error}"}, status_code=400)
    done = await group_commit().upsert(request.app.state.sessions, order)
    if shops.directory.due_for_note(shop.id):
        async with request.app.state.sessions() as session:
            await shops.webhook_seen(session, shop.id)
            await session.commit()
    if done.skipped:
        log.warning("shopify order %s from %s not stored: %s", order.external_id, shop.domain, done.skipped)
        return Response({"detail": done.skipped}, status_code=422)
    deliveries.remember(shop.id, webhook_id)
    return Response({"order_id": done.order_id, "created": done.created, "stale": done.stale}, status_code=200)


def router() -> Router:
    return Router(path="/webhooks/shopify", route_handlers=[receive_order], request_max_body_size=MAX_BODY)


def install(settings: Settings) -> None:
    """Mount the webhook with the core's public endpoints."""
    from helpdesk.web.public import endpoints

    endpoints.add_router(router())
