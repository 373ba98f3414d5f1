"""The customer screen: the 360° panel, all orders, editing, merging two customers."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import records as customers

from helpdesk.tickets import actions as tickets
from helpdesk.models import Agent, Ticket
from helpdesk.web.auth import current_agent, lead_only, signed_in
from helpdesk.web.console.pages import form_rejected, fragment, go, is_htmx, queue_pane, render

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


async def _view(db: AsyncSession, customer_id: int, *, all_orders: bool = False) -> customers.CustomerView:
    view = await customers.load_customer_view(db, customer_id, all_orders=all_orders)
    if view is None:
        raise NotFoundException(f"there is no customer {customer_id}")
    return view


async def _panel_context(db: AsyncSession, agent: Agent, customer_id: int, ticket_id: int | None) -> dict[str, Any]:
    ticket = await db.get(Ticket, ticket_id) if ticket_id else None
    if ticket is not None and ticket.customer_id != customer_id:
        ticket = None
    return {"agent": agent, "customer_view": await _view(db, customer_id), "ticket": ticket,
            "clocks": tickets.sla_clocks(ticket) if ticket else []}


class CustomerController(Controller):
    path = "/console/customers"
    include_in_schema = False
    guards = [signed_in]
    dependencies = {"agent": current_agent}

    @get("/{customer_id:int}", name="customer")
    async def show(self, request: Request, db: AsyncSession, agent: Agent, customer_id: int) -> Template | Response:
        survivor = await customers.survivor_id(db, customer_id)
        if survivor is None:
            raise NotFoundException(f"there is no customer {customer_id}")
        if survivor != customer_id:
            return go(request, f"/console/customers/{survivor}")
        context = await self._page_context(db, request, agent, customer_id)
        return render(request, "console/customer.html", context,
                      fragments={"workspace": "console/_customer_workspace.html"})

    @get("/{customer_id:int}/panel", name="customer_panel")
    async def panel(self, db: AsyncSession, agent: Agent, customer_id: int, ticket: int | None = None) -> Template:
        return fragment("console/_customer_panel.html", await _panel_context(db, agent, customer_id, ticket))

    @get("/{customer_id:int}/orders", name="customer_orders")
    async def orders(self, db: AsyncSession, agent: Agent, customer_id: int, all: bool = True) -> Template:
        return fragment("console/_customer_orders.html", {"customer_view": await _view(db, customer_id, all_orders=all)})

    @post("/{customer_id:int}", name="customer_edit")
    async def edit(self, request: Request, db: AsyncSession, agent: Agent, customer_id: int,
                   data: Form) -> Template | Response:
        view = await _view(db, customer_id)
        raw_org = str(data.get("organization_id") or "")
        try:
            await customers.update_customer(
                db, view.customer, name=str(data.get("name") or ""), notes=str(data.get("notes") or ""),
                organization_id=int(raw_org) if raw_org.isdigit() else None,
            )
        except customers.CustomerError as exc:
            context = await self._page_context(db, request, agent, customer_id)
            context.update(edit_error=exc, form=data)
            return await form_rejected(request, db, agent, context, page="console/customer.html",
                                       part="console/_customer_edit.html")
        if not is_htmx(request):
            return go(request, f"/console/customers/{customer_id}")
        context = await self._page_context(db, request, agent, customer_id)
        context["edit_notice"] = "Saved."
        return fragment("console/_customer_edit.html", context)

    @post("/{customer_id:int}/merge", name="customer_merge", guards=[lead_only])
    async def merge(self, request: Request, db: AsyncSession, agent: Agent, customer_id: int,
                    data: Form) -> Template | Response:
        """Merge this customer into another (leads and admins: it moves everything and cannot be undone)."""
        raw = str(data.get("target") or "").strip()
        try:
            if not raw.isdigit():
                raise customers.CustomerError("write the id of the customer to merge into", field="target")
            survivor = await customers.merge_customers(db, customer_id, int(raw), agent_id=agent.id)
        except customers.CustomerError as exc:
            context = await self._page_context(db, request, agent, customer_id)
            context.update(merge_error=str(exc), merge_target=raw)
            return await form_rejected(request, db, agent, context, page="console/customer.html",
                                       part="console/_customer_merge.html")
        if is_htmx(request):
            return Response("", headers={"HX-Redirect": f"/console/customers/{survivor.id}"})
        return go(request, f"/console/customers/{survivor.id}")

    async def _page_context(self, db: AsyncSession, request: Request, agent: Agent, customer_id: int) -> dict:
        context = await queue_pane(db, request, agent)
        context.update(await _panel_context(db, agent, customer_id, None))
        context["organizations"] = await customers.list_organizations(db)
        return context
