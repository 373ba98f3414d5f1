"""The agent's notifications: the bell in the header (its unread count, fetched after the page and
again on the live `notifications` event) and the page that lists them (helpdesk/staff/notifications.py)."""
from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent
from helpdesk.staff import notifications
from helpdesk.web.console.pages import fragment, go, is_htmx, render

FRAGMENTS = {"notifications": "console/_notifications.html"}


async def _bell(db: AsyncSession, agent: Agent) -> dict:
    unread = await notifications.unread_count(db, agent.id)
    return {"agent": agent, "unread": unread, "unread_label": notifications.unread_label(unread)}


class NotificationController(Controller):
    path = "/notifications"

    @get("/", name="notifications")
    async def page(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        context = await _bell(db, agent)
        context["notifications"] = await notifications.recent(db, agent.id)
        return render(request, "console/notifications.html", context, fragments=FRAGMENTS)

    @get("/bell", name="notification_bell")
    async def bell(self, db: AsyncSession, agent: Agent) -> Template:
        return fragment("console/_notification_bell.html", await _bell(db, agent))

    @post("/read", name="notifications_read")
    async def read_all(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template | Response:
        """Mark all read: the list again (htmx), or back to the page."""
        await notifications.mark_read(db, agent.id)
        if not is_htmx(request):
            return go(request, "/console/notifications")
        context = await _bell(db, agent)
        context.update(notifications=await notifications.recent(db, agent.id), oob=True)
        return fragment("console/_notifications.html", context)

    @post("/{notification_id:int}/open", name="notification_open")
    async def open(self, request: HTMXRequest, db: AsyncSession, agent: Agent, notification_id: int) -> Response:
        """Read it and go to its ticket (or back to the list, for one about no ticket)."""
        found = await notifications.mark_read(db, agent.id, notification_id)
        if found is None:
            raise NotFoundException("there is no such notification")
        return go(request, f"/console/tickets/{found.ticket_id}" if found.ticket_id else "/console/notifications")
