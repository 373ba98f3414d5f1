"""Who is signed in, and what their role lets them do: checked on every console route."""
from __future__ import annotations

from urllib.parse import urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent
from helpdesk.web.sessions import renew_session

ROLE_RANK = {"agent": 1, "lead": 2, "admin": 3}
PUBLIC = "exclude_from_auth"  # a route handler's opt key (Litestar's own name for it): open to everyone


async def current_agent(request: Request, db: AsyncSession) -> Agent:
    """Dependency: the signed-in, active agent, or 401 (which the console turns into the login page)."""
    agent_id = request.session.get("agent_id") if request.scope.get("session") is not None else None
    agent = await db.get(Agent, agent_id) if agent_id else None
    if agent is None or not agent.active:
        raise NotAuthorizedException("sign in to continue")
    if request.session.get("role") != agent.role:
        # an admin changed this agent's role since sign-in: the guards (which read the
        # session) ran on the old role, so record the new one and check them again
        request.session["role"] = agent.role
        renew_session(request)  # privileges changed: a new session id, as at sign-in
        for guard in request.route_handler.resolve_guards():
            await guard(request, request.route_handler)
    request.scope["state"]["agent_role"] = agent.role
    # plain values for an error page, which renders after the request's database session is gone
    request.scope["state"]["console_agent"] = {"id": agent.id, "name": agent.name, "role": agent.role}
    return agent


def requires_role(minimum: str):
    """Guard: the route is for `minimum` and above (agent < lead < admin), unless it is marked PUBLIC."""

    def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        if handler.opt.get(PUBLIC):
            return
        session = connection.scope.get("session") or {}
        role = session.get("role")
        if not session.get("agent_id"):
            raise NotAuthorizedException("sign in to continue")
        if ROLE_RANK.get(role, 0) < ROLE_RANK[minimum]:
            raise PermissionDeniedException(f"this page is for {minimum}s and above")

    guard.__name__ = f"requires_{minimum}"
    return guard


signed_in = requires_role("agent")
lead_only = requires_role("lead")
admin_only = requires_role("admin")


_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    """Guard: a state-changing console request must come from our own pages. Browsers send
    `Origin` (or at least `Referer`) with a form post; a cross-site one is refused even when its
    CSRF token would pass. A request with neither (an old client, a script) relies on the token."""
    if connection.scope.get("method", "GET") in _SAFE_METHODS:
        return
    origin = connection.headers.get("origin")
    if origin == "null":  # a sandboxed frame or a redirect chain across sites
        raise PermissionDeniedException("cross-site request refused: Origin null")
    claimed = origin or connection.headers.get("referer")
    if not claimed:
        return
    allowed = {_origin_of(str(connection.base_url)), _origin_of(connection.app.state.settings.base_url)}
    if _origin_of(claimed) not in allowed:
        raise PermissionDeniedException(f"cross-site request refused: Origin {_origin_of(claimed)}")
