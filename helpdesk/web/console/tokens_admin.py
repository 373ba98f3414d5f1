"""Admin screen: API tokens (docs/api.md). One per integration: made with its scopes, shown once, then
only its prefix; last use; revoke. Admins only; the rules are `helpdesk.integrations.api_tokens`', as for
`helpdesk tokens` on the command line."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.integrations import api_tokens
from helpdesk.integrations.api_tokens import TokenError
from helpdesk.models import Agent, ApiToken
from helpdesk.web.auth import admin_only
from helpdesk.web.console.pages import FORM, render


@dataclass
class TokenForm:
    name: str = ""
    write: str = ""  # "1": read and write; else read only


class TokensAdminController(Controller):
    path = "/admin/tokens"
    guards = [admin_only]

    async def _page(self, request: HTMXRequest, db: AsyncSession, agent: Agent, *, status_code: int = 200,
                    **extra: Any) -> Template:
        context = {"agent": agent, "section": "tokens", "tokens": await api_tokens.list_tokens(db),
                   "form": TokenForm(), "error": None, "failed_form": None, "notice": None, "created": None, **extra}
        return render(request, "console/admin_tokens.html", context, status_code=status_code)

    @get("/", name="admin_tokens")
    async def index(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return await self._page(request, db, agent)

    @post("/", name="admin_tokens_create")
    async def create(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                     data: Annotated[TokenForm, FORM]) -> Template:
        scopes = ["read", "write"] if data.write == "1" else ["read"]
        try:
            made = await api_tokens.create_token(db, data.name, scopes, agent_id=agent.id)
        except TokenError as error:
            return await self._page(request, db, agent, status_code=400, error=error, failed_form="token-form",
                                    form=data)
        return await self._page(request, db, agent, created=made)

    @post("/{token_id:int}/revoke", name="admin_tokens_revoke")
    async def revoke(self, request: HTMXRequest, db: AsyncSession, agent: Agent, token_id: int) -> Template:
        token = await db.get(ApiToken, token_id)
        if token is None:
            raise NotFoundException(f"no API token {token_id}")
        revoked = await api_tokens.revoke_token(db, token, agent_id=agent.id)
        notice = (f"{token.name} ({token.prefix}…) is revoked: it is refused from the next request on."
                  if revoked else f"{token.name} was revoked already.")
        return await self._page(request, db, agent, notice=notice)
