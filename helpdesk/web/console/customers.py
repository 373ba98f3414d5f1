"""The customer screen: the 360° panel, all orders, editing, merging two customers (found by a
type-ahead, confirmed side by side), and the page of duplicate suggestions and identity conflicts."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.response import Template
from litestar_htmx import ClientRedirect, HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import conflicts, duplicates, lookup, side_by_side
from helpdesk.customers import records as customers

from helpdesk.tickets import actions as tickets
from helpdesk.models import Agent
from helpdesk.models.base import parse_id
from helpdesk.web.auth import lead_only
from helpdesk.web.console.pages import FORM, form_rejected, fragment, go, is_htmx, queue_pane, render

DUPLICATES_PAGE = "/console/customers/duplicates"


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
    target: str = ""  # the id of the customer to keep (the type-ahead's choice, confirmed side by side)

    def target_id(self) -> int:
        target = parse_id(self.target)
        if target is None:
            raise customers.CustomerError("pick the customer to merge into", field="target")
        return target


@dataclass
class PairForm:
    customer: str = ""
    other: str = ""


async def _duplicates_context(db: AsyncSession, agent: Agent) -> dict[str, Any]:
    return {"agent": agent, "suggestions": await duplicates.suggestions(db),
            "conflicts": await conflicts.open_conflicts(db)}


def _gone(request: HTMXRequest) -> Response:
    """A decided row: htmx swaps it away (an empty answer), a plain form goes back to the list."""
    return Response(content="", media_type="text/html", status_code=200) if is_htmx(request) else go(request, DUPLICATES_PAGE)


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

    @get("/duplicates", name="customer_duplicates")
    async def duplicates_page(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        """Possible duplicates and identity conflicts, for agents to decide (leads and admins merge)."""
        return render(request, "console/customer_duplicates.html", await _duplicates_context(db, agent),
                      fragments={"workspace": "console/_customer_duplicates.html"})

    @post("/duplicates/dismiss", name="customer_duplicate_dismiss")
    async def dismiss(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                      data: Annotated[PairForm, FORM]) -> Response:
        """"Not the same person": the pair is not suggested again."""
        pair = parse_id(data.customer), parse_id(data.other)
        if None in pair or pair[0] == pair[1]:
            raise ValidationException("name the two customers that are not the same person")
        await duplicates.dismiss(db, *pair, agent_id=agent.id)
        return _gone(request)

    @post("/conflicts/{conflict_id:int}/keep-apart", name="identity_conflict_keep_apart")
    async def keep_apart(self, request: HTMXRequest, db: AsyncSession, agent: Agent, conflict_id: int) -> Response:
        """"Keep apart": the identity stays with its holder; the two are not suggested as duplicates."""
        try:
            await conflicts.keep_apart(db, conflict_id, agent_id=agent.id)
        except conflicts.ConflictError as exc:
            raise NotFoundException(str(exc)) from exc
        return _gone(request)

    @get("/{customer_id:int}/duplicates", name="customer_duplicate_hint")
    async def duplicate_hint(self, db: AsyncSession, agent: Agent, customer_id: int) -> Template:
        """The panel's "Possible duplicate" line, fetched after the panel (the email rule reads every address)."""
        return fragment("console/_customer_duplicate_hint.html", {
            "agent": agent, "customer_id": customer_id,
            "suggestions": await duplicates.suggestions(db, customer_id=customer_id)})

    @get("/{customer_id:int}/merge", name="customer_merge_confirm", guards=[lead_only])
    async def merge_confirm(self, request: HTMXRequest, db: AsyncSession, agent: Agent, customer_id: int,
                            other: str | None = None, q: str = "") -> Template | Response:
        """Both customers side by side before a merge (`?other=`), or the type-ahead's matches for `q`
        when the browser runs no script."""
        context = await queue_pane(db, request, agent)
        other_id = parse_id(other)
        context.update(customer_id=customer_id, merge_query=q.strip(), sides=None,
                       hits=await lookup.find_customers(db, q, excluding=customer_id))
        if other_id is not None:
            context["sides"] = await side_by_side.compare(db, customer_id, other_id)
            if context["sides"] is None:
                context["merge_error"] = "one of these customers was merged or erased meanwhile: pick again"
        elif await customers.survivor_id(db, customer_id) != customer_id:
            return go(request, f"/console/customers/{customer_id}")
        return render(request, "console/customer_merge.html", context,
                      fragments={"workspace": "console/_customer_merge_confirm.html"})

    @get("/{customer_id:int}/merge/search", name="customer_merge_search", guards=[lead_only])
    async def merge_search(self, db: AsyncSession, agent: Agent, customer_id: int, q: str = "") -> Template:
        """The type-ahead: customers by name, email or phone, each a link to the side-by-side."""
        return fragment("console/_customer_merge_hits.html", {
            "customer_id": customer_id, "merge_query": q.strip(),
            "hits": await lookup.find_customers(db, q, excluding=customer_id)})

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
