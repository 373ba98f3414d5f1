"""Admin screen: the quarantine. What could not be ingested, from any channel, with its reason;
its raw bytes can be read, and it can be re-ingested once the cause is fixed. Admins only."""
from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.files import read_blob
from helpdesk.inbound import pipeline
from helpdesk.models import Agent
from helpdesk.settings import Settings
from helpdesk.web.auth import admin_only
from helpdesk.web.console.pages import go, render

SHOWN = 200  # the newest unresolved entries; the CLI lists them all


class QuarantineController(Controller):
    path = "/admin/quarantine"
    guards = [admin_only]

    async def _page(self, request: HTMXRequest, db: AsyncSession, agent: Agent, *, status_code: int = 200,
                    **extra) -> Template:
        rows = await pipeline.quarantined(db, limit=SHOWN, newest_first=True,
                                          channel=request.query_params.get("channel") or None)
        context = {"agent": agent, "section": "quarantine", "rows": rows, "error": None, "notice": None,
                   "form": {}, "channel": request.query_params.get("channel") or "", **extra}
        return render(request, "console/admin_quarantine.html", context, status_code=status_code)

    @get("/", name="admin_quarantine")
    async def index(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return await self._page(request, db, agent)

    @get("/{quarantine_id:int}/raw", name="admin_quarantine_raw")
    async def raw(self, db: AsyncSession, agent: Agent, settings: Settings, quarantine_id: int) -> Response:
        """The payload exactly as it arrived, as a download: never rendered as HTML in our origin."""
        row = await pipeline.quarantined_entry(db, quarantine_id)
        if row is None:
            raise NotFoundException(f"no quarantined message {quarantine_id}")
        return Response(read_blob(settings.raw_dir, row.raw_ref), media_type="application/octet-stream", headers={
            "Content-Disposition": f'attachment; filename="quarantine-{row.id}.{"eml" if row.channel == "email" else "raw"}"',
            "X-Content-Type-Options": "nosniff",
        })

    @post("/{quarantine_id:int}/reingest", name="admin_quarantine_reingest")
    async def reingest(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings,
                       state: State, quarantine_id: int) -> Response | Template:
        try:
            outcome = await pipeline.reingest(state.sessions, quarantine_id, settings=settings)
        except (pipeline.NotQuarantined, LookupError) as error:
            return await self._page(request, db, agent, error=str(error), status_code=400)
        if outcome.status == "quarantined":
            return await self._page(request, db, agent, status_code=422,
                                    error=f"Still failing: it stays in the quarantine (entry {outcome.quarantine_id}).")
        if outcome.result is not None and outcome.result.ticket_id:
            return go(request, f"/console/tickets/{outcome.result.ticket_id}")
        return await self._page(request, db, agent, notice="Resolved: it carried no message.")

    @post("/{quarantine_id:int}/dismiss", name="admin_quarantine_dismiss")
    async def dismiss(self, request: HTMXRequest, db: AsyncSession, agent: Agent, quarantine_id: int) -> Template:
        try:
            await pipeline.dismiss(db, quarantine_id)
        except pipeline.NotQuarantined as error:
            return await self._page(request, db, agent, error=str(error), status_code=400)
        return await self._page(request, db, agent, notice="Dismissed: its raw bytes stay stored.")
