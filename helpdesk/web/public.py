"""Public endpoints: routes that outsiders call with their own credentials (a webhook's signature,
a chat visitor's token), mounted by adapters through one registry.

An adapter describes its webhook (how to verify a request; its parser is registered with the
inbound pipeline under the same channel name) and the registry mounts it at
`/webhooks/{platform}`: the raw body is read once, size-limited, verified, stored and ingested
through the pipeline. These paths are CSRF-exempt (app.CSRF_EXEMPT): they carry no cookie session.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State

from helpdesk.channel import SignatureInvalid
from helpdesk.inbound import pipeline
from helpdesk.settings import Settings

log = logging.getLogger(__name__)

# (headers, raw body, settings) -> the account the request is for (page id, bot, shop); raises SignatureInvalid
Verify = Callable[[Mapping[str, str], bytes, Settings], str | None]
# (query parameters, settings) -> the body to answer a subscription check with (Meta's hub.challenge)
Handshake = Callable[[Mapping[str, str], Settings], str]

DEFAULT_MAX_BODY = 1024 * 1024  # platforms send small JSON; a bigger body is refused with 413


@dataclass(frozen=True)
class Webhook:
    platform: str  # the path segment, and the channel its parser is registered under
    verify: Verify
    handshake: Handshake | None = None
    max_body: int = DEFAULT_MAX_BODY


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
            account = webhook.verify(request.headers, body, settings)
        except SignatureInvalid as error:
            log.warning("webhook %s from %s refused: %s", webhook.platform,
                        request.client.host if request.client else "?", error)
            return Response({"detail": str(error)}, status_code=401)
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
                answer = webhook.handshake(request.query_params, settings)
            except SignatureInvalid as error:
                log.warning("webhook %s handshake refused: %s", webhook.platform, error)
                return Response({"detail": str(error)}, status_code=403)
            return Response(answer, media_type="text/plain")

        handlers.append(handshake)
    return Router(path=f"/webhooks/{webhook.platform}", route_handlers=handlers,
                  request_max_body_size=webhook.max_body)
