"""Sign-in and sign-out of the console."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.staff.agents import authenticate
from helpdesk.web.auth import signed_in


def _safe_next(target: str | None) -> str:
    """Only local paths: a login link must not bounce the agent to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/console"
    return target


class SessionController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/login", name="login")
    async def login_page(self, next: str | None = None) -> Template:
        return Template("console/login.html", context={"next": _safe_next(next), "error": None, "email": ""})

    @post("/login")
    async def login(
        self,
        request: Request,
        db: AsyncSession,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        email, password = data.get("email", ""), data.get("password", "")
        agent = await authenticate(db, email, password) if email and password else None
        if agent is None:
            return Template(
                "console/login.html",
                context={"next": _safe_next(data.get("next")), "email": email,
                         "error": "That email and password do not match an active agent."},
                status_code=400,
            )
        request.clear_session()
        request.set_session({"agent_id": agent.id, "role": agent.role, "name": agent.name})
        return Redirect(_safe_next(data.get("next")))

    @post("/logout", guards=[signed_in])
    async def logout(self, request: Request) -> Redirect:
        request.clear_session()
        return Redirect("/console/login")
