"""create_app(settings): plugins, routes, templates, static files."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from litestar import Litestar, Request, Response, get
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader, State
from litestar.di import Provide
from litestar.exceptions import (
    HTTPException, MethodNotAllowedException, NotAuthorizedException, NotFoundException, PermissionDeniedException,
)
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.prometheus import PrometheusConfig
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar_htmx import HTMXPlugin
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import __version__, live
from helpdesk import db
from helpdesk.live_relay import LocalRelay
from helpdesk.paths import static_dir, templates_dir
from helpdesk.settings import Settings
from helpdesk.web.console import errors as console_errors
from helpdesk.web.console.pages import register_template_helpers
from helpdesk.web.console.router import console_router
from helpdesk.web.api.router import api_router, security_components
from helpdesk.web.health import healthz
from helpdesk.web.metrics import MetricsController
from helpdesk.web.public import PublicEndpoints, endpoints
from helpdesk.web.sessions import ConsoleSessionConfig, sweep_expired

# Routes that outsiders call with their own authentication (signatures, tokens), not our forms.
# Litestar searches these patterns anywhere in the path: each is anchored at the start, so a
# future `/console/admin/api-keys` is not exempt.
CSRF_EXEMPT = ["^/webhooks/", "^/api/", "^/chat/", "^/widget\\.js$", "^/healthz$", "^/metrics$"]
SESSION_SWEEP_SECONDS = 3600

log = logging.getLogger(__name__)


@get("/", include_in_schema=False)
async def root() -> Redirect:
    return Redirect("/console")


def _json_error(request: Request, exc: HTTPException) -> Response:
    """Outside the console (webhooks, the API): the error as JSON. The console router has its own."""
    return Response({"detail": str(exc.detail)}, status_code=exc.status_code)


def _session_store(settings: Settings):
    if settings.redis_url:
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=settings.redis_url, namespace="helpdesk-sessions")
    from litestar.stores.file import FileStore

    return FileStore(path=settings.data_dir / "sessions")


async def _sweep_sessions(store) -> None:
    """Expired sessions leave the file store hourly (an abandoned browser never comes back for its own)."""
    while True:
        try:
            await sweep_expired(store)
        except Exception:  # noqa: BLE001 - a failed sweep is retried next hour; the app goes on
            log.exception("sweeping expired sessions failed")
        await asyncio.sleep(SESSION_SWEEP_SECONDS)


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _security_headers(secure: bool) -> list[ResponseHeader]:
    """On every response: no MIME sniffing, no referrer leaving the console (links in customers'
    mail), never framed (clickjacking), and HSTS when the helpdesk is served over https.

    `same-origin`, not `no-referrer`: under `no-referrer` Chromium sends `Origin: null` with our own
    form posts (seen in the sign-in test), and the Origin check (auth.same_origin) could no longer
    tell our pages from a cross-site one. `same-origin` still sends nothing to other sites.

    The Content-Security-Policy allows scripts from our own origin only: no inline script, no
    event-handler attributes, no eval (htmx runs with `allowEval: false`, see base.html), so HTML
    from a customer's mail that slipped past the sanitiser still could not run. Images may come
    from anywhere because "Show images" on a message asks for exactly that; the sanitiser removes
    remote images until the agent does. Inline styles stay allowed: mail bodies carry them."""
    headers = [
        ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
        ResponseHeader(name="Referrer-Policy", value="same-origin"),
        ResponseHeader(name="X-Frame-Options", value="DENY"),
        ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
    ]
    if secure:
        headers.append(ResponseHeader(name="Strict-Transport-Security", value="max-age=31536000"))
    return headers


def _shared_store(settings: Settings, namespace: str):
    """Counts and short-lived keys every web process must see alike: Redis when configured.
    "throttle": failed sign-ins and chat visitors' limits; "presence": agents with the console open."""
    if settings.redis_url:
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=settings.redis_url, namespace=f"helpdesk-{namespace}")
    from litestar.stores.memory import MemoryStore

    return MemoryStore()


def _channels_backend(settings: Settings):
    if settings.redis_url:
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend
        from redis.asyncio import Redis

        return RedisChannelsPubSubBackend(redis=Redis.from_url(settings.redis_url))
    return MemoryChannelsBackend()


def _join_local_relay(settings: Settings, channels: ChannelsPlugin) -> list[LocalRelay]:
    """Without Redis, events from this installation's other processes (CLI commands, worker, other
    web processes) arrive over the local relay (helpdesk/live_relay.py)."""
    try:
        return [LocalRelay(settings.live_dir, lambda channel, payload: channels.publish(payload, channel))]
    except OSError as error:
        log.warning("live events of other processes will not reach this one's consoles: "
                    "the local relay in %s cannot be opened (%s)", settings.live_dir, error)
        return []


def create_app(settings: Settings, *, migrate: bool = False, public: PublicEndpoints | None = None) -> Litestar:
    """The web app. `public` holds the adapters' webhook and chat routes (default: this process's
    registry, which `channels.registry.install_adapters` fills)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    channels = ChannelsPlugin(backend=_channels_backend(settings), arbitrary_channels_allowed=True)
    state = State({"settings": settings, "channels": channels})

    app_loop: list[asyncio.AbstractEventLoop] = []
    sweeper: list[asyncio.Task] = []
    relay: list[LocalRelay] = []
    replaced_transport: list[live.Publisher | None] = []

    def _publish(name: str, event: dict) -> None:
        # the in-process worker publishes from its own thread; channels' queue belongs to the app's loop
        loop = app_loop[0] if app_loop else None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            channels.publish(event, name)
        else:
            loop.call_soon_threadsafe(channels.publish, event, name)
        for local in relay:  # the other web processes (with Redis, the channels backend reaches them)
            local.publish(name, event)

    async def on_startup(app: Litestar) -> None:
        # the app loop's one session factory (helpdesk.db), made here: asyncpg's connections
        # belong to the loop that runs the app
        state.sessions = db.sessions(settings)
        state.engine = state.sessions.kw["bind"]
        if migrate:
            from helpdesk.migrate import upgrade

            await upgrade(state.engine)
        app_loop.append(asyncio.get_running_loop())
        if not settings.redis_url:
            relay.extend(_join_local_relay(settings, channels))
        replaced_transport.append(live.set_transport(_publish))
        sweeper.append(asyncio.create_task(_sweep_sessions(app.stores.get("sessions"))))

    async def on_shutdown(app: Litestar) -> None:
        for task in sweeper:
            task.cancel()
        if replaced_transport:
            live.set_transport(replaced_transport.pop())
        while relay:
            relay.pop().close()
        await db.dispose_sessions()

    async def provide_db() -> AsyncGenerator[AsyncSession, None]:
        async with state.sessions() as session:
            yield session

    def provide_settings() -> Settings:
        return settings

    secure = settings.base_url.startswith("https://")
    return Litestar(
        route_handlers=[
            root,
            healthz,
            MetricsController,
            create_static_files_router(path="/static", directories=[static_dir()], name="static"),
            console_router,
            api_router,
            *(endpoints if public is None else public).route_handlers(),
        ],
        dependencies={"db": Provide(provide_db), "settings": Provide(provide_settings, sync_to_thread=False)},
        plugins=[HTMXPlugin(), channels],
        middleware=[
            ConsoleSessionConfig(
                key="helpdesk_session", max_age=12 * 3600, secure=secure, samesite="lax", httponly=True,
                store="sessions",
            ).middleware,
            PrometheusConfig(app_name="helpdesk", prefix="helpdesk", group_path=True).middleware,
        ],
        stores={"sessions": _session_store(settings), "throttle": _shared_store(settings, "throttle"),
                "presence": _shared_store(settings, "presence")},
        csrf_config=CSRFConfig(
            secret=settings.secret_key, cookie_name="helpdesk_csrf", header_name="x-csrftoken",
            cookie_secure=secure, cookie_samesite="lax", exclude=CSRF_EXEMPT,
        ),
        template_config=TemplateConfig(directory=templates_dir(), engine=JinjaTemplateEngine,
                                       engine_callback=register_template_helpers),
        openapi_config=OpenAPIConfig(title="Helpdesk API", version=__version__, path="/schema",
                                     components=security_components),
        # an address no route matches never reaches the console router's handlers
        exception_handlers={NotAuthorizedException: _json_error, PermissionDeniedException: _json_error,
                            NotFoundException: console_errors.unknown_console_path,
                            MethodNotAllowedException: console_errors.unknown_console_path},
        response_headers=_security_headers(secure),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        state=state,
        debug=settings.debug,
    )
