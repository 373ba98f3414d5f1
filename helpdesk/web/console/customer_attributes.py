"""A customer's custom attributes, edited inline in the customer panel (every agent): add or
change one, remove one. The panel's `#customer-attributes` is swapped with the result; a refused
value comes back next to its field. The rules are `helpdesk.customers.attributes`'."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from litestar import Controller, Response, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import attributes, records
from helpdesk.models import Agent, Customer
from helpdesk.web.console.pages import FORM, form_rejected, fragment, go, is_htmx

PART = "console/_customer_attributes.html"


@dataclass
class AttributeForm:
    key: str = ""
    type: str = "text"
    value: str = ""


@dataclass
class RemoveForm:
    key: str = ""


class CustomerAttributeController(Controller):
    path = "/customers/{customer_id:int}/attributes"

    async def _customer(self, db: AsyncSession, customer_id: int) -> Customer:
        customer = await db.get(Customer, customer_id)
        if customer is None or customer.merged_into_id is not None:
            raise NotFoundException(f"there is no customer {customer_id}")
        return customer

    @post("/", name="customer_attribute_set")
    async def set(self, request: HTMXRequest, db: AsyncSession, agent: Agent, customer_id: int,
                  data: Annotated[AttributeForm, FORM]) -> Template | Response:
        customer = await self._customer(db, customer_id)
        try:
            saved = await attributes.set_attribute(db, customer, data.key, data.type, data.value, agent_id=agent.id)
        except attributes.InvalidAttribute as error:
            context = {"agent": agent, "attribute_customer": customer, "attribute_error": error,
                       "attribute_form": asdict(data)}
            return await self._rejected(request, db, agent, customer_id, context)
        return self._done(request, agent, customer, f"{saved.label} saved.")

    @post("/remove", name="customer_attribute_remove")
    async def remove(self, request: HTMXRequest, db: AsyncSession, agent: Agent, customer_id: int,
                     data: Annotated[RemoveForm, FORM]) -> Template | Response:
        customer = await self._customer(db, customer_id)
        removed = await attributes.remove_attribute(db, customer, data.key, agent_id=agent.id)
        return self._done(request, agent, customer, "Removed." if removed else "It was removed already.")

    def _done(self, request: HTMXRequest, agent: Agent, customer: Customer, notice: str) -> Template | Response:
        if not is_htmx(request):
            return go(request, f"/console/customers/{customer.id}")
        return fragment(PART, {"agent": agent, "attribute_customer": customer, "attribute_notice": notice})

    async def _rejected(self, request: HTMXRequest, db: AsyncSession, agent: Agent, customer_id: int,
                        context: dict[str, Any]) -> Template:
        if not is_htmx(request):  # a plain form post: the customer page, with the error in its panel
            context.update(customer_view=await records.load_customer_view(db, customer_id), ticket=None, clocks=[],
                           organizations=await records.list_organizations(db))
        return await form_rejected(request, db, agent, context, page="console/customer.html", part=PART)
