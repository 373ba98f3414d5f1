"""Sign-in and sign-out of the console."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlparse

from litestar import Controller, get, post
from litestar.response import Redirect, Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.staff.agents import authenticate
from helpdesk.web.sessions import renew_session
from helpdesk.web.throttle import SignInThrottle
from helpdesk.web.auth import PUBLIC
from helpdesk.web.console.pages import FORM


@dataclass
class SignIn:
    email: str = ""
    password: str = ""
    next: str = ""


def _safe_next(target: str | None) -> str:
    """Only local paths: a login link must not bounce the agent to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/console"
    return target


class SessionController(Controller):
    path = "/"

    @get("/login", name="login", opt={PUBLIC: True})
    async def login_page(self, next: str | None = None) -> Template:
        return Template("console/login.html", context={"next": _safe_next(next), "error": None, "email": ""})

    @post("/login", opt={PUBLIC: True})
    async def login(self, request: HTMXRequest, db: AsyncSession,
                    data: Annotated[SignIn, FORM]) -> Template | Redirect:
        throttle = SignInThrottle(request.app.stores.get("throttle"))
        address = request.client.host if request.client else None
        if await throttle.blocked(data.email, address):
            return self._refused(data, "Too many failed sign-ins. Wait a quarter of an hour, then try again.", 429)
        agent = await authenticate(db, data.email, data.password) if data.email and data.password else None
        if agent is None:
            await throttle.failed(data.email, address)
            return self._refused(data, "That email and password do not match an active agent.", 400)
        await throttle.succeeded(data.email)
        request.clear_session()
        request.set_session({"agent_id": agent.id, "role": agent.role, "name": agent.name})
        renew_session(request)  # a fresh server-made id: an id planted before sign-in is worth nothing
        return Redirect(_safe_next(data.next))

    @staticmethod
    def _refused(data: SignIn, error: str, status_code: int) -> Template:
        return Template("console/login.html", status_code=status_code,
                        context={"next": _safe_next(data.next), "email": data.email, "error": error})

    @post("/logout")
    async def logout(self, request: HTMXRequest) -> Redirect:
        request.clear_session()
        return Redirect("/console/login")
