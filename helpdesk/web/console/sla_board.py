"""The SLA board for team leads: breached tickets, what breaches next, agent load."""
from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.tickets import queues
from helpdesk.models import Agent
from helpdesk.web.auth import lead_only
from helpdesk.web.console.pages import render


class SlaBoardController(Controller):
    path = "/sla"
    guards = [lead_only]

    @get("/", name="sla_board")
    async def board(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        board = await queues.sla_board(db)
        return render(request, "console/sla.html", {"agent": agent, **board},
                      fragments={"sla-board": "console/_sla_board.html"})
