"""The organizations screens: the list with its counts, one organization's page (its customers,
their tickets, order totals per currency), and for leads and admins: create, rename, domains.
The rules are `helpdesk.customers.organizations`'."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import organizations
from helpdesk.customers.organizations import OrganizationError
from helpdesk.models import Agent
from helpdesk.settings import Settings
from helpdesk.web.auth import lead_only
from helpdesk.web.console.pages import FORM, form_rejected, go, render


@dataclass
class NameForm:
    name: str = ""


@dataclass
class DomainForm:
    domain: str = ""


# the single-column pages need no queue pane: `queue` present keeps form_rejected from loading one
_NO_QUEUE = {"queue": None}


class OrganizationController(Controller):
    path = "/organizations"

    async def _view(self, db: AsyncSession, organization_id: int) -> organizations.OrganizationView:
        view = await organizations.load_organization_view(db, organization_id)
        if view is None:
            raise NotFoundException(f"there is no organization {organization_id}")
        return view

    async def _page_context(self, db: AsyncSession, agent: Agent, organization_id: int, **extra) -> dict[str, Any]:
        return {"agent": agent, "org_view": await self._view(db, organization_id), "error": None,
                "failed_form": None, "form": {}, **_NO_QUEUE, **extra}

    async def _list_context(self, db: AsyncSession, agent: Agent, **extra) -> dict[str, Any]:
        return {"agent": agent, "rows": await organizations.organization_rows(db), "error": None,
                "failed_form": None, "form": {}, **_NO_QUEUE, **extra}

    @get("/", name="organizations")
    async def index(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return render(request, "console/organizations.html", await self._list_context(db, agent))

    @post("/", name="organization_create", guards=[lead_only])
    async def create(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                     data: Annotated[NameForm, FORM]) -> Template | Response:
        try:
            made = await organizations.create_organization(db, data.name, agent_id=agent.id)
        except OrganizationError as error:
            context = await self._list_context(db, agent, error=error, failed_form="organization-create",
                                               form={"name": data.name})
            return await form_rejected(request, db, agent, context, page="console/organizations.html",
                                       part="console/_organization_create.html")
        return go(request, f"/console/organizations/{made.id}")

    @get("/{organization_id:int}", name="organization")
    async def show(self, request: HTMXRequest, db: AsyncSession, agent: Agent, organization_id: int) -> Template:
        return render(request, "console/organization.html", await self._page_context(db, agent, organization_id),
                      fragments={"workspace": "console/_organization_workspace.html"})

    @post("/{organization_id:int}", name="organization_rename", guards=[lead_only])
    async def rename(self, request: HTMXRequest, db: AsyncSession, agent: Agent, organization_id: int,
                     data: Annotated[NameForm, FORM]) -> Template | Response:
        view = await self._view(db, organization_id)
        try:
            await organizations.rename_organization(db, view.organization, data.name, agent_id=agent.id)
        except OrganizationError as error:
            await db.refresh(view.organization)
            return await self._rejected(request, db, agent, organization_id, error, "organization-rename",
                                        {"name": data.name}, "console/_organization_edit.html")
        return go(request, f"/console/organizations/{organization_id}")

    @post("/{organization_id:int}/domains", name="organization_domain_add", guards=[lead_only])
    async def add_domain(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                         organization_id: int, data: Annotated[DomainForm, FORM]) -> Template | Response:
        view = await self._view(db, organization_id)
        try:
            await organizations.add_domain(db, view.organization, data.domain, agent_id=agent.id,
                                           freemail=organizations.freemail_domains(settings.freemail_domains))
        except OrganizationError as error:
            return await self._rejected(request, db, agent, organization_id, error, "organization-domain",
                                        {"domain": data.domain}, "console/_organization_domains.html")
        return go(request, f"/console/organizations/{organization_id}")

    @post("/{organization_id:int}/domains/remove", name="organization_domain_remove", guards=[lead_only])
    async def remove_domain(self, request: HTMXRequest, db: AsyncSession, agent: Agent, organization_id: int,
                            data: Annotated[DomainForm, FORM]) -> Template | Response:
        view = await self._view(db, organization_id)
        try:
            await organizations.remove_domain(db, view.organization, data.domain, agent_id=agent.id)
        except OrganizationError as error:
            return await self._rejected(request, db, agent, organization_id, error, "organization-domain",
                                        {}, "console/_organization_domains.html")
        return go(request, f"/console/organizations/{organization_id}")

    async def _rejected(self, request: HTMXRequest, db: AsyncSession, agent: Agent, organization_id: int,
                        error: OrganizationError, failed_form: str, form: dict[str, str], part: str) -> Template:
        context = await self._page_context(db, agent, organization_id, error=error, failed_form=failed_form, form=form)
        return await form_rejected(request, db, agent, context, page="console/organization.html", part=part)
