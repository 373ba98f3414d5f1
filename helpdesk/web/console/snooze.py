"""Snooze and unsnooze from the ticket's properties (`_snooze.html`); the rules are in
helpdesk/tickets/snooze.py. Times are the agent's: the browser names its zone in the form."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from litestar import Controller, Response, post
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent, utcnow
from helpdesk.tickets import snooze
from helpdesk.tickets.actions import TicketError
from helpdesk.web.console.pages import FORM, form_rejected, fragment, go, is_htmx
from helpdesk.web.console.tickets import _counts, _ticket, workspace_context


@dataclass
class SnoozeForm:
    """A preset button, or the date and time written in `until`, in the agent's time zone."""

    preset: str = ""  # a key of snooze.PRESETS; "" for `until`
    until: str = ""  # a datetime-local value, "2026-12-02T09:00"
    tz: str = ""  # the browser's IANA zone, filled in by static/local-time.js
    tz_offset: str = ""  # its getTimezoneOffset(), for a browser that names no zone

    def time(self, now: datetime) -> datetime:
        return snooze.snooze_time(self.preset, self.until, snooze.agent_zone(self.tz, self.tz_offset), now)


class SnoozeController(Controller):
    path = "/tickets/{ticket_id:int}"

    @post("/snooze", name="ticket_snooze")
    async def snooze(self, request: HTMXRequest, db: AsyncSession, agent: Agent, ticket_id: int,
                     data: Annotated[SnoozeForm, FORM]) -> Template | Response:
        """Snooze until a preset or a chosen time; a time in the past or over a year ahead is refused
        next to the field."""
        ticket = await _ticket(db, ticket_id)
        try:
            await snooze.snooze(db, ticket, data.time(utcnow()), agent)
        except TicketError as exc:
            context = await workspace_context(db, agent, ticket_id)
            context.update(snooze_error=str(exc), snooze_until=data.until)
            return await form_rejected(request, db, agent, context, page="console/ticket.html",
                                       part="console/_ticket_properties.html", target="ticket-properties")
        return await _changed(request, db, agent, ticket_id)

    @post("/unsnooze", name="ticket_unsnooze")
    async def unsnooze(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                       ticket_id: int) -> Template | Response:
        await snooze.unsnooze(db, await _ticket(db, ticket_id), agent)
        return await _changed(request, db, agent, ticket_id)


async def _changed(request: HTMXRequest, db: AsyncSession, agent: Agent, ticket_id: int) -> Template | Response:
    """The properties again, with the status badge, SLA clocks and queue counts out of band."""
    if not is_htmx(request):
        return go(request, f"/console/tickets/{ticket_id}")
    context = await workspace_context(db, agent, ticket_id)
    context.update(await _counts(db, request, agent))
    return fragment("console/_properties_update.html", context)
