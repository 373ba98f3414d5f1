"""/api/v1/organizations: list, get, create, update (name, domains). The rules are
`helpdesk.customers.organizations`' (free-mail domains refused, a domain names one organization)."""
from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from helpdesk.customers import organizations as orgs
from helpdesk.models import Organization
from helpdesk.settings import Settings
from helpdesk.web.api import convert, listing, paging
from helpdesk.web.api import schemas as s
from helpdesk.web.api.access import Caller
from helpdesk.web.api.problems import documented, invalid, not_found

OrganizationId = Annotated[int, Parameter(ge=1, le=2**31 - 1)]


async def _load(session: AsyncSession, organization_id: int) -> Organization:
    organization = await session.scalar(
        select(Organization).where(Organization.id == organization_id).options(selectinload(Organization.domains))
        .execution_options(populate_existing=True))
    if organization is None:
        raise not_found("organization")
    return organization


async def _change_domains(session: AsyncSession, organization: Organization, add: list[str], remove: list[str],
                          settings: Settings, caller: Caller) -> None:
    freemail = orgs.freemail_domains(settings.freemail_domains)
    try:
        for domain in add:
            orgs.normalise_domain(domain)  # every domain read before any is written
        for domain in remove:
            await orgs.remove_domain(session, organization, domain, agent_id=caller.agent_id)
        for domain in add:
            await orgs.add_domain(session, organization, domain, freemail=freemail, agent_id=caller.agent_id)
    except orgs.OrganizationError as error:
        raise invalid(error) from None


class OrganizationController(Controller):
    path = "/organizations"
    tags = ["organizations"]

    @get("/", responses=documented(404), summary="List organizations")
    async def list_organizations(self, request: Request, db: AsyncSession, limit: paging.Limit,
                                 cursor: paging.Cursor) -> s.Page:
        rows = await listing.organizations(db, after=paging.after_id(cursor), limit=limit)
        return paging.page(request, rows, limit, convert.organization)

    @get("/{organization_id:int}", responses=documented(404), summary="An organization with its domains")
    async def get_organization(self, db: AsyncSession, organization_id: OrganizationId) -> s.OrganizationOut:
        return convert.organization(await _load(db, organization_id))

    @post("/", responses=documented(404, 409, 422), summary="Create an organization", status_code=201,
          description="Customers writing from its domains who have no organization are linked to it.")
    async def create_organization(self, db: AsyncSession, caller: Caller, settings: Settings,
                                  data: s.OrganizationCreate) -> s.OrganizationOut:
        try:
            for domain in data.domains:
                orgs.normalise_domain(domain)
            organization = await orgs.create_organization(db, data.name, agent_id=caller.agent_id)
        except orgs.OrganizationError as error:
            raise invalid(error) from None
        await _change_domains(db, organization, data.domains, [], settings, caller)
        return convert.organization(await _load(db, organization.id))

    @patch("/{organization_id:int}", responses=documented(404, 409, 422), summary="Rename an organization, add or remove domains")
    async def update_organization(self, db: AsyncSession, caller: Caller, settings: Settings,
                                  organization_id: OrganizationId, data: s.OrganizationUpdate) -> s.OrganizationOut:
        organization = await _load(db, organization_id)
        if data.name is not msgspec.UNSET:
            try:
                await orgs.rename_organization(db, organization, data.name, agent_id=caller.agent_id)
            except orgs.OrganizationError as error:
                raise invalid(error) from None
        await _change_domains(db, organization, data.add_domains, data.remove_domains, settings, caller)
        return convert.organization(await _load(db, organization.id))
