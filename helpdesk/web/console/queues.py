"""The queue screen: the console's home, queue lists with filters and bulk actions, search."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.tickets import queues

from helpdesk.tickets import actions as tickets
from helpdesk.models import Agent
from helpdesk.web.auth import current_agent, signed_in
from helpdesk.web.console.pages import fragment, queue_pane, remember_queue, render

try:  # search is its own module (FTS5 / tsvector); the console works without it
    from helpdesk.tickets.search import search as search_tickets
except ImportError:  # pragma: no cover - only while search is not merged
    search_tickets = None

QUEUE_FRAGMENTS = {"queue-pane": "console/_queue_pane.html", "queue-section": "console/_queue_pane.html"}


def _filters(request: Request) -> queues.Filters:
    return queues.Filters.from_query(dict(request.query_params))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class QueueController(Controller):
    path = "/console"
    include_in_schema = False
    guards = [signed_in]
    dependencies = {"agent": current_agent}

    @get("/", name="console_home")
    async def home(self, request: Request, db: AsyncSession, agent: Agent) -> Template:
        context = await queue_pane(db, request, agent)
        return render(request, "console/queue.html", context, fragments=QUEUE_FRAGMENTS)

    @get("/queues/{name:str}", name="queue")
    async def queue(self, request: Request, db: AsyncSession, agent: Agent, name: str,
                    after: str | None = None) -> Template:
        context = await queue_pane(db, request, agent, name, _filters(request), after)
        if context["queue"].name != name:
            return render(request, "console/not_found.html", {"agent": agent, "what": f"queue {name!r}"},
                          status_code=404)
        remember_queue(request, name)
        return render(request, "console/queue.html", context, fragments=QUEUE_FRAGMENTS)

    @get("/queues/counts", name="queue_counts")
    async def counts(self, db: AsyncSession, agent: Agent, request: Request) -> Template:
        counts = await queues.queue_counts(db, agent_id=agent.id)
        return fragment("console/_queue_nav.html", {"counts": counts, "queue": {"name": request.session.get("queue")}})

    @post("/queues/bulk", name="queue_bulk")
    async def bulk(
        self, request: Request, db: AsyncSession, agent: Agent,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        """Bulk actions on the selected rows; re-renders the queue with a result line."""
        ids = [int(i) for i in _as_list(data.get("ticket_ids")) if i.isdigit()]
        action, value = str(data.get("action", "")), str(data.get("value", "")).strip()
        error = notice = None
        try:
            changes = _bulk_changes(action, value, agent)
            done = await tickets.bulk_update(db, ids, changes, agent=agent)
            changed = sum(1 for what in done.values() if what)
            notice = f"{changed} of {len(ids)} ticket{'s' if len(ids) != 1 else ''} changed."
        except tickets.TicketError as exc:
            error = str(exc)
        name = str(data.get("queue") or request.session.get("queue") or "mine")
        filters = queues.Filters.from_query({k: str(v) for k, v in data.items() if isinstance(v, str)})
        context = await queue_pane(db, request, agent, name, filters)
        context.update(bulk_error=error, bulk_notice=notice)
        return render(request, "console/queue.html", context, fragments=QUEUE_FRAGMENTS,
                      status_code=200 if error is None or request.headers.get("hx-request") else 400)

    @get("/search", name="search")
    async def search(self, request: Request, db: AsyncSession, agent: Agent, q: str = "") -> Template:
        hits = await search_tickets(db, q, limit=20) if search_tickets and q.strip() else []
        context = {"agent": agent, "query": q, "hits": hits, "search_available": search_tickets is not None}
        if request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "search-results":
            return fragment("console/_search_results.html", context)
        context.update(await queue_pane(db, request, agent))
        return render(request, "console/search.html", context)


def _bulk_changes(action: str, value: str, agent: Agent) -> tickets.Changes:
    if action == "assign":
        if value == "me":
            return tickets.Changes(assignee_id=agent.id)
        if value == "none":
            return tickets.Changes(assignee_id="none")
        if value.isdigit():
            return tickets.Changes(assignee_id=int(value))
        raise tickets.TicketError("choose whom to assign the tickets to", field="value")
    if action == "status":
        return tickets.Changes(status=value)
    if action == "priority":
        return tickets.Changes(priority=value)
    if action == "tag":
        tags = tickets.parse_tags(value)
        if not tags:
            raise tickets.TicketError("write the tag to add", field="value")
        return tickets.Changes(add_tags=tags)
    if action == "untag":
        return tickets.Changes(remove_tags=tickets.parse_tags(value))
    raise tickets.TicketError("choose a bulk action", field="action")
