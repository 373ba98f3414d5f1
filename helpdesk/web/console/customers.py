"""The customer screen: the 360° panel, all orders, editing, merging two customers."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import ClientRedirect, HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import records as customers

from helpdesk.tickets import actions as tickets
from helpdesk.models import Agent
from helpdesk.models.base import parse_id
from helpdesk.web.auth import lead_only
from helpdesk.web.console.pages import FORM, form_rejected, fragment, go, is_htmx, queue_pane, render


@dataclass
class CustomerForm:
    name: str = ""
    notes: str = ""
    organization_id: str = ""  # a select's value: "" for none

    @property
    def organization(self) -> int | None:
        return parse_id(self.organization_id)


@dataclass
class MergeForm:
    target: str = ""  # the id of the customer to keep

    def target_id(self) -> int:
        target = parse_id(self.target)
        if target is None:
            raise customers.CustomerError("write the id of the customer to merge into", field="target")
        return target


async def _view(db: AsyncSession, customer_id: int, *, all_orders: bool = False) -> customers.CustomerView:
    view = await customers.load_customer_view(db, customer_id, all_orders=all_orders)
    if view is None:
        raise NotFoundException(f"there is no customer {customer_id}")
    return view


async def _panel_context(db: AsyncSession, agent: Agent, customer_id: int, ticket_id: int | None) -> dict[str, Any]:
    ticket = await tickets.ticket_by_id(db, ticket_id) if ticket_id else None
    if ticket is not None and ticket.customer_id != customer_id:
        ticket = None
    return {"agent": agent, "customer_view": await _view(db, customer_id), "ticket": ticket,
            "clocks": await tickets.sla_clocks(db, ticket) if ticket else []}


async def _page_context(db: AsyncSession, request: HTMXRequest, agent: Agent, customer_id: int) -> dict[str, Any]:
    context = await queue_pane(db, request, agent)
    context.update(await _panel_context(db, agent, customer_id, None))
    context["organizations"] = await customers.list_organizations(db)
    return context


class CustomerController(Controller):
    path = "/customers"

    @get("/{customer_id:int}", name="customer")
    async def show(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                   customer_id: int) -> Template | Response:
        survivor = await customers.survivor_id(db, customer_id)
        if survivor is None:
            raise NotFoundException(f"there is no customer {customer_id}")
        if survivor != customer_id:
            return go(request, f"/console/customers/{survivor}")
        context = await _page_context(db, request, agent, customer_id)
        return render(request, "console/customer.html", context,
                      fragments={"workspace": "console/_customer_workspace.html"})

    @get("/{customer_id:int}/panel", name="customer_panel")
    async def panel(self, db: AsyncSession, agent: Agent, customer_id: int, ticket: str | None = None) -> Template:
        """The panel beside a ticket (`?ticket=`, its SLA clocks; ignored unless it is this customer's)."""
        return fragment("console/_customer_panel.html", await _panel_context(db, agent, customer_id, parse_id(ticket)))

    @get("/{customer_id:int}/orders", name="customer_orders")
    async def orders(self, db: AsyncSession, agent: Agent, customer_id: int, all: bool = True) -> Template:
        return fragment("console/_customer_orders.html", {"customer_view": await _view(db, customer_id, all_orders=all)})

    @post("/{customer_id:int}", name="customer_edit")
    async def edit(self, request: HTMXRequest, db: AsyncSession, agent: Agent, customer_id: int,
                   data: Annotated[CustomerForm, FORM]) -> Template | Response:
        view = await _view(db, customer_id)
        try:
            await customers.update_customer(db, view.customer, name=data.name, notes=data.notes,
                                            organization_id=data.organization)
        except customers.CustomerError as exc:
            context = await _page_context(db, request, agent, customer_id)
            context.update(edit_error=exc, form=asdict(data))
            return await form_rejected(request, db, agent, context, page="console/customer.html",
                                       part="console/_customer_edit.html")
        if not is_htmx(request):
            return go(request, f"/console/customers/{customer_id}")
        context = await _page_context(db, request, agent, customer_id)
        context["edit_notice"] = "Saved."
        return fragment("console/_customer_edit.html", context)

    @post("/{customer_id:int}/merge", name="customer_merge", guards=[lead_only])
    async def merge(self, request: HTMXRequest, db: AsyncSession, agent: Agent, customer_id: int,
                    data: Annotated[MergeForm, FORM]) -> Template | Response:
        """Merge this customer into another (leads and admins: it moves everything and cannot be undone)."""
        try:
            survivor = await customers.merge_customers(db, customer_id, data.target_id(), agent_id=agent.id)
        except customers.CustomerError as exc:
            context = await _page_context(db, request, agent, customer_id)
            context.update(merge_error=str(exc), merge_target=data.target.strip())
            return await form_rejected(request, db, agent, context, page="console/customer.html",
                                       part="console/_customer_merge.html")
        if is_htmx(request):
            return ClientRedirect(f"/console/customers/{survivor.id}")
        return go(request, f"/console/customers/{survivor.id}")
