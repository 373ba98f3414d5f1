"""Public endpoints: routes that outsiders call with their own credentials (a webhook's signature,
a chat visitor's token), mounted by adapters through one registry.

An adapter describes its webhook (how to verify a request; its parser is registered with the
inbound pipeline under the same channel name) and the registry mounts it at
`/webhooks/{platform}`: the raw body is read once, size-limited, verified, stored and ingested
through the pipeline. These paths are CSRF-exempt (app.CSRF_EXEMPT): they carry no cookie session.

A `deferred` webhook (every social platform: they retry or give up on slow answers) is answered as
soon as its raw body is verified, checked and queued: a job (`pipeline.defer`) stores, parses and
ingests it in a worker. Without a worker set-up (a bare test app) it is ingested in the request.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State

from helpdesk.channel import SignatureInvalid, UnreadablePayload
from helpdesk.files import store_blob
from helpdesk.inbound import pipeline
from helpdesk.settings import Settings

log = logging.getLogger(__name__)

# (headers, raw body, settings) -> the account the request is for (page id, bot, shop); raises
# SignatureInvalid. May be a coroutine function (it reads the accounts' secrets).
Verify = Callable[[Mapping[str, str], bytes, Settings], "str | None | Awaitable[str | None]"]
# (query parameters, settings) -> the body to answer a subscription check with (Meta's hub.challenge)
Handshake = Callable[[Mapping[str, str], Settings], "str | Awaitable[str]"]
# (raw body) -> None; raises UnreadablePayload for a body that is not the platform's format at all
# (answered 400 at once, and quarantined). Cheap: the full parse runs in the worker.
Check = Callable[[bytes], None]

DEFAULT_MAX_BODY = 1024 * 1024  # platforms send small JSON; a bigger body is refused with 413


@dataclass(frozen=True)
class Webhook:
    platform: str  # the path segment, and the channel its parser is registered under
    verify: Verify
    handshake: Handshake | None = None
    max_body: int = DEFAULT_MAX_BODY
    check: Check | None = None
    deferred: bool = False  # answer once stored; a worker parses and ingests (module docstring)


@dataclass
class PublicEndpoints:
    """The public routes of one app: webhooks, and routers an adapter mounts whole (chat)."""

    webhooks: dict[str, Webhook] = field(default_factory=dict)
    routers: dict[str, Router] = field(default_factory=dict)

    def add_webhook(self, webhook: Webhook) -> None:
        self.webhooks[webhook.platform] = webhook

    def add_router(self, router: Router) -> None:
        """An adapter's own public routes (e.g. `/chat/...`), mounted as they are. Keyed by path like
        webhooks, so installing the adapters twice in one process (serve, then its broker) mounts them once."""
        self.routers[router.path] = router

    def route_handlers(self) -> list[Router]:
        return [_webhook_router(webhook) for webhook in self.webhooks.values()] + list(self.routers.values())


endpoints = PublicEndpoints()  # this process's registry: `channels.registry.install_adapters` fills it


def _webhook_router(webhook: Webhook) -> Router:
    @post("/", status_code=200, include_in_schema=False)
    async def receive_webhook(request: Request, settings: Settings, state: State) -> Response:
        body = await request.body()
        try:
            account = await _maybe_await(webhook.verify(request.headers, body, settings))
        except SignatureInvalid as error:
            log.warning("webhook %s from %s refused: %s", webhook.platform,
                        request.client.host if request.client else "?", error)
            return Response({"detail": str(error)}, status_code=401)
        if webhook.check is not None:
            try:
                webhook.check(body)
            except UnreadablePayload as error:
                raw_ref = store_blob(settings.raw_dir, body)
                quarantine_id = await pipeline.quarantine(state.sessions, webhook.platform, raw_ref,
                                                          f"UnreadablePayload: {error}", account=account)
                log.warning("webhook %s (%s) malformed, quarantined as %s: %s", webhook.platform, account,
                            quarantine_id, error)
                return Response({"detail": f"malformed {webhook.platform} webhook: {error}",
                                 "quarantine_id": quarantine_id}, status_code=400)
        if webhook.deferred and pipeline.can_defer():
            try:
                pipeline.defer(webhook.platform, body, account)
            except Exception:  # noqa: BLE001 - the broker is down: the platform delivers it again on a 5xx
                log.exception("webhook %s (%s) could not be queued", webhook.platform, account)
                return Response({"detail": "not accepted now: try again later"}, status_code=503)
            return Response({"accepted": True}, status_code=200)
        outcomes = await pipeline.receive(state.sessions, webhook.platform, [body], settings=settings,
                                          account=account)
        tally = pipeline.Tally()
        for outcome in outcomes:
            tally.add(outcome)
        if tally.quarantined:
            log.warning("webhook %s payload quarantined (%d of %d messages)", webhook.platform, tally.quarantined,
                        len(outcomes))
            quarantine_ids = [o.quarantine_id for o in outcomes if o.status == "quarantined"]
            return Response({"detail": "the payload could not be read; it is kept in the quarantine",
                             "quarantine_ids": quarantine_ids, **tally.as_dict()}, status_code=422)
        return Response(tally.as_dict(), status_code=200)

    handlers = [receive_webhook]
    if webhook.handshake is not None:
        @get("/", include_in_schema=False)
        async def handshake(request: Request, settings: Settings) -> Response:
            try:
                answer = await _maybe_await(webhook.handshake(request.query_params, settings))
            except SignatureInvalid as error:
                log.warning("webhook %s handshake refused: %s", webhook.platform, error)
                return Response({"detail": str(error)}, status_code=403)
            return Response(answer, media_type="text/plain")

        handlers.append(handshake)
    return Router(path=f"/webhooks/{webhook.platform}", route_handlers=handlers,
                  request_max_body_size=webhook.max_body)


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value
