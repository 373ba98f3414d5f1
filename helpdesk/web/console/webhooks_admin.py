"""Admin screen: outbound webhooks (docs/webhooks.md). The endpoints integrations gave us, the events
each receives, on or off; each endpoint's last deliveries with their attempts and last answer;
add (the secret is shown once, then only stored encrypted), switch off, remove, send a test event,
retry a failed delivery. Admins only; the rules are `helpdesk.integrations`', as for
`helpdesk webhooks` on the command line."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.integrations import deliveries, webhooks
from helpdesk.integrations.webhooks import EVENTS, EndpointInvalid
from helpdesk.models import Agent, WebhookDelivery
from helpdesk.web.auth import admin_only
from helpdesk.web.console.pages import FORM, render
from helpdesk.settings import Settings

RECENT = 10


@dataclass
class EndpointForm:
    """The add form: one checkbox per event ("1" when ticked)."""

    url: str = ""
    description: str = ""
    ticket_created: str = ""
    ticket_updated: str = ""
    message_created: str = ""
    customer_merged: str = ""

    def events(self) -> list[str]:
        return [event for event in EVENTS if getattr(self, field_name(event))]


@dataclass
class ActiveForm:
    active: str = ""  # "1": switch on, anything else: off


def field_name(event: str) -> str:
    return event.replace(".", "_")


class WebhooksAdminController(Controller):
    path = "/admin/webhooks"
    guards = [admin_only]

    async def _page(self, request: HTMXRequest, db: AsyncSession, agent: Agent, *, status_code: int = 200,
                    **extra) -> Template:
        endpoints = await webhooks.list_endpoints(db)
        context: dict[str, Any] = {
            "agent": agent, "section": "webhooks", "events": EVENTS, "field_name": field_name,
            "endpoints": endpoints, "recent": await deliveries.recent(db, [e.id for e in endpoints], per_endpoint=RECENT),
            "form": EndpointForm(), "error": None, "failed_form": None, "notice": None, "created": None, **extra}
        return render(request, "console/admin_webhooks.html", context, status_code=status_code)

    @get("/", name="admin_webhooks")
    async def index(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return await self._page(request, db, agent)

    @post("/", name="admin_webhooks_create")
    async def create(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                     data: Annotated[EndpointForm, FORM]) -> Template:
        try:
            made = await webhooks.add_endpoint(db, settings, url=data.url, events=data.events(),
                                               description=data.description)
        except EndpointInvalid as error:
            return await self._page(request, db, agent, status_code=400, error=error, failed_form="webhook-form",
                                    form=data)
        return await self._page(request, db, agent, created=made,
                                notice=f"Endpoint {made.endpoint.url} added. Copy its signing secret now: "
                                       "it is not shown again.")

    @post("/{endpoint_id:int}/active", name="admin_webhooks_active")
    async def set_active(self, request: HTMXRequest, db: AsyncSession, agent: Agent, endpoint_id: int,
                         data: Annotated[ActiveForm, FORM]) -> Template:
        endpoint = await self._endpoint(db, endpoint_id)
        await webhooks.set_active(db, endpoint.id, data.active == "1")
        state = "on: events are sent to it" if endpoint.active else "off: no events are sent to it"
        return await self._page(request, db, agent, notice=f"{endpoint.url} is {state}.")

    @post("/{endpoint_id:int}/delete", name="admin_webhooks_delete")
    async def delete(self, request: HTMXRequest, db: AsyncSession, agent: Agent, endpoint_id: int) -> Template:
        endpoint = await self._endpoint(db, endpoint_id)
        url = endpoint.url
        await webhooks.remove_endpoint(db, endpoint.id)
        return await self._page(request, db, agent, notice=f"{url} removed, with its deliveries.")

    @post("/{endpoint_id:int}/test", name="admin_webhooks_test")
    async def send_test(self, request: HTMXRequest, db: AsyncSession, agent: Agent, endpoint_id: int) -> Template:
        endpoint = await self._endpoint(db, endpoint_id)
        delivery_id = await deliveries.send_test(db, endpoint.id)
        return await self._page(request, db, agent,
                                notice=f"Test event queued for {endpoint.url} (delivery {delivery_id}); "
                                       "reload to see its answer.")

    @post("/deliveries/{delivery_id:int}/retry", name="admin_webhooks_retry")
    async def retry(self, request: HTMXRequest, db: AsyncSession, agent: Agent, delivery_id: int) -> Template:
        if await db.get(WebhookDelivery, delivery_id) is None:
            raise NotFoundException(f"no webhook delivery {delivery_id}")
        if await deliveries.retry(db, delivery_id):
            return await self._page(request, db, agent, notice=f"Delivery {delivery_id} queued again.")
        return await self._page(request, db, agent, status_code=409, error=EndpointInvalid(
            f"delivery {delivery_id} has not failed: only a failed delivery can be retried"))

    async def _endpoint(self, db: AsyncSession, endpoint_id: int):
        try:
            return await webhooks.endpoint(db, endpoint_id)
        except EndpointInvalid as error:
            raise NotFoundException(str(error)) from error
