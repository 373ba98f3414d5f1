"""The SLA board for team leads: breached tickets, what breaches next, agent load."""
from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.tickets import queues
from helpdesk.models import Agent
from helpdesk.web.auth import current_agent, lead_only
from helpdesk.web.console.pages import render


class SlaBoardController(Controller):
    path = "/console/sla"
    include_in_schema = False
    guards = [lead_only]
    dependencies = {"agent": current_agent}

    @get("/", name="sla_board")
    async def board(self, request: Request, db: AsyncSession, agent: Agent) -> Template:
        board = await queues.sla_board(db)
        return render(request, "console/sla.html", {"agent": agent, **board},
                      fragments={"sla-board": "console/_sla_board.html"})
