"""`POST /webhooks/shopify`: a shop's order deliveries, verified, then upserted in the request.

Synchronous on purpose: an order is one small upsert (a few statements), far below Shopify's
five-second limit, so the order is in the customer panel the moment Shopify hears 200, and there
is no raw store or broker to keep. A replayed delivery (`X-Shopify-Webhook-Id` seen by this process)
is answered at once; the (source, external_id) upsert makes a replay harmless in any process.
"""
from __future__ import annotations

import logging
from collections import OrderedDict

from litestar import Request, Response, Router, post

from channels.shop import shopify
from helpdesk.channel import SignatureInvalid, UnreadablePayload
from helpdesk.customers import shops
from helpdesk.customers.orders import upsert_orders_bulk
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
    async with request.app.state.sessions() as session:
        result = await upsert_orders_bulk(session, [order], replace_items=True)
        if shops.directory.due_for_note(shop.id):
            await shops.webhook_seen(session, shop.id)
        await session.commit()
    done = result.orders[0]
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
